"""The restore wizard's choosing pages: which database, which snapshot, where to.

State lives on the wizard (RestoreWizard): the pages read and set its `source`,
`snapshot`, `in_place` and `target` and its presets (from History's "Restore this").
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.backup_search import MissingBackupsNote
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.messages import error_lines
from lifeboat.gui.restore_moment import MomentChooser
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.text import plural, reason_text, short_time, size_text, time_ago

if TYPE_CHECKING:
    from lifeboat.gui.restore_wizard import RestoreWizard


#: the snapshot page's tabs
SNAPSHOTS_TAB, MOMENT_TAB = range(2)


def usable(record: SnapshotRecord) -> bool:
    """A snapshot that can be restored: its file is here and passed its checks, or only a
    remote holds it (it is fetched and checked first)."""
    return record.status == "ok" or (record.status == "remote" and bool(record.copies))


def not_here(records: list[SnapshotRecord], source: str) -> str:
    """Where the snapshots of a database not backed up on this computer are."""
    mine = [r for r in records if r.source == source]
    if mine and not any(r.local for r in mine):
        remotes = sorted({c.remote for r in mine for c in r.copies})
        return f"not backed up on this computer; its snapshots are on {', '.join(remotes)}"
    return "no longer backed up"


class SourcePage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Which database do you want back?")
        self.setSubTitle("Choose the database to restore from its snapshots.")
        self.choices = QListWidget()
        self.choices.setObjectName("restore-sources")
        self.choices.currentRowChanged.connect(lambda _row: self.completeChanged.emit())
        self.choices.itemDoubleClicked.connect(lambda _item: wizard.next())
        self.missing_note = MissingBackupsNote(wizard.service)
        self.missing_note.searched.connect(self.initializePage)
        layout = QVBoxLayout(self)
        layout.addWidget(self.choices)
        layout.addWidget(self.missing_note)

    def initializePage(self) -> None:
        service = self.owner.service
        now = datetime.now(UTC)
        configured = {s.name: s for s in service.sources()}
        records = service.snapshots()
        names = list(configured) + sorted({r.source for r in records} - set(configured))
        self.choices.clear()
        for name in names:
            mine = [r for r in records if r.source == name and usable(r)]
            newest = (
                f"newest {time_ago(mine[0].manifest.created_at, now)}"
                if mine
                else "no snapshots yet"
            )
            where = str(configured[name].path) if name in configured else not_here(records, name)
            item = QListWidgetItem(f"{name}  —  {plural(len(mine), 'snapshot')}, {newest}\n{where}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            if not mine:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.choices.addItem(item)
        wanted = self.owner.preset_source or self.owner.source
        rows = [
            i
            for i in range(self.choices.count())
            if self.choices.item(i).flags() & Qt.ItemFlag.ItemIsEnabled
        ]
        chosen = next(
            (i for i in rows if self.choices.item(i).data(Qt.ItemDataRole.UserRole) == wanted),
            rows[0] if rows else -1,
        )
        self.choices.setCurrentRow(chosen)
        self.missing_note.explain(
            any_snapshots=bool(rows),
            remotes=[r.name for r in service.remotes()],
            unknown=service.remotes_with_unknown_backups(),
        )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        item = self.choices.currentItem()
        return item is not None and bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)

    def validatePage(self) -> bool:
        item = self.choices.currentItem()
        source = item.data(Qt.ItemDataRole.UserRole)
        if source != self.owner.source:
            self.owner.source = source
            self.owner.snapshot = None
        return True


class SnapshotPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Which snapshot?")
        self.records: list[SnapshotRecord] = []
        self.table = QTreeWidget()
        self.table.setObjectName("restore-snapshots")
        self.table.setHeaderLabels(["Taken", "Age", "Size", "Status", "Why"])
        self.table.setRootIsDecorated(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self.completeChanged.emit)
        self.table.itemDoubleClicked.connect(lambda _i, _c: wizard.next())
        # "A moment in time", for a database with continuous history (shown once read)
        self.moment = MomentChooser(wizard.service, wizard.commit_changes)
        self.moment.changed.connect(self.completeChanged.emit)
        self.moment.loaded.connect(self._history_read)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("restore-what")
        self.tabs.addTab(self.table, "A snapshot")
        self.tabs.addTab(self.moment, "A moment in time")
        self.tabs.setTabVisible(MOMENT_TAB, False)
        self.tabs.currentChanged.connect(lambda _i: self.completeChanged.emit())
        self.browse = QPushButton("&Browse…")
        self.browse.setObjectName("restore-browse")
        self.browse.setToolTip("Look inside the snapshot or moment chosen without restoring it")
        self.browse.clicked.connect(self.browse_chosen)
        self.browse.setVisible(wizard.browse is not None)
        self.completeChanged.connect(lambda: self.browse.setEnabled(self.isComplete()))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.browse, 0, Qt.AlignmentFlag.AlignLeft)

    def browse_chosen(self) -> None:
        """The snapshot or moment chosen, in the Browse window."""
        source, browse = self.owner.source, self.owner.browse
        if source is None or browse is None or not self.isComplete():
            return
        choice = self.moment.choice
        if self.by_moment and choice is not None:
            browse(PointWanted(source, at=choice.commit_time))
        elif (record := self.chosen()) is not None:
            browse(PointWanted(source, snapshot=record.id))

    def initializePage(self) -> None:
        source = self.owner.source
        self.setSubTitle(f"Snapshots of {source}, newest first. The newest good one is selected.")
        self.tabs.setCurrentIndex(SNAPSHOTS_TAB)
        self.tabs.setTabVisible(MOMENT_TAB, False)
        if source is not None:
            self.moment.load(source)
        now = datetime.now(UTC)
        self.records = self.owner.service.snapshots(source)
        self.table.clear()
        wanted = self.owner.preset_snapshot or (
            self.owner.snapshot.id if self.owner.snapshot else None
        )
        selected = None
        for record in self.records:
            m = record.manifest
            status = {
                "ok": "good" + (", verified" if record.verified_at else ""),
                "corrupt": "damaged",
                "missing": "file missing",
                "remote": "on " + ", ".join(c.remote for c in record.copies),
            }.get(record.status, record.status)
            why = reason_text(m.reason) + (
                ", pinned" if m.protected and m.reason != "pre-restore" else ""
            )
            item = QTreeWidgetItem(
                [
                    short_time(m.created_at),
                    time_ago(m.created_at, now),
                    size_text(m.db_size),
                    status,
                    why,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, record.id)
            item.setToolTip(0, f"snapshot {record.id}")
            if not usable(record):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(3, record.status_detail or "")
            self.table.addTopLevelItem(item)
            if selected is None and usable(record) and (wanted is None or record.id == wanted):
                selected = item
        if selected is not None:
            self.table.setCurrentItem(selected)
            self.table.scrollToItem(selected)

    def _history_read(self, any_history: bool) -> None:
        self.tabs.setTabVisible(MOMENT_TAB, any_history)
        if any_history:
            self.setSubTitle(
                f"Snapshots of {self.owner.source}, newest first, or any moment its "
                "continuous history covers."
            )

    @property
    def by_moment(self) -> bool:
        return self.tabs.currentIndex() == MOMENT_TAB

    def chosen(self) -> SnapshotRecord | None:
        items = self.table.selectedItems()
        if not items:
            return None
        ref = items[0].data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.records if r.id == ref), None)

    def isComplete(self) -> bool:
        if self.by_moment:
            return self.moment.choice is not None
        record = self.chosen()
        return record is not None and usable(record)

    def validatePage(self) -> bool:
        if not self.by_moment:
            self.owner.snapshot, self.owner.point = self.chosen(), None
            return self.owner.snapshot is not None
        choice = self.moment.choice
        if choice is None:
            return False
        try:  # the point's chain's base: where it restores to, like a snapshot's
            self.owner.snapshot = self.owner.service.snapshot(choice.base_id)
        except LifeboatError as exc:
            self.moment.verdict.setText(" ".join(error_lines(exc)))
            return False
        self.owner.point = choice
        return True


class TargetPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Where should it go?")
        self.setSubTitle("Put the snapshot back over the database, or save it beside it.")
        self.in_place = QRadioButton()
        self.in_place.setObjectName("restore-in-place")
        self.in_place_note = QLabel(
            "Lifeboat first takes a safety snapshot of the current "
            "file, so you can go back to it. Programs that have the "
            "database open see the restored data."
        )
        self.in_place_note.setWordWrap(True)
        self.in_place_note.setIndent(24)
        self.to_file = QRadioButton("Restore it as a new file, and leave the database as it is:")
        self.to_file.setObjectName("restore-to-file")
        self.path = QLineEdit()
        self.path.setObjectName("restore-path")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        self.error = QLabel()
        self.error.setObjectName("restore-target-error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        self._confirmed_overwrite: Path | None = None
        row = QHBoxLayout()
        row.setContentsMargins(24, 0, 0, 0)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.in_place)
        layout.addWidget(self.in_place_note)
        layout.addSpacing(12)
        layout.addWidget(self.to_file)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.in_place.toggled.connect(self._mode_changed)
        self.path.textEdited.connect(lambda _t: self.error.hide())

    def initializePage(self) -> None:
        record = self.owner.snapshot
        assert record is not None
        configured = {s.name: s for s in self.owner.service.sources()}
        source = configured.get(record.source)
        can_in_place = source is not None and record.manifest.kind != "raw"
        self.in_place.setEnabled(can_in_place)
        self.in_place.setText(
            f"Put it back in place: replace {source.path}"
            if source
            else "Put it back in place (not possible: this database is no longer backed up)"
        )
        folder = source.path.parent if source else Path.home()
        stem = source.path.stem if source else record.source
        suffix = source.path.suffix if source and source.path.suffix else ".db"
        point = self.owner.point
        moment = point.commit_time if point is not None else record.manifest.created_at
        stamp = moment.astimezone().strftime("%Y%m%d-%H%M" + ("%S" if point else ""))
        self.path.setText(str(free_name(folder, f"{stem}-restored-{stamp}", suffix)))
        if self.owner.preset_in_place is not None:
            self.owner.in_place = self.owner.preset_in_place and can_in_place
        elif not can_in_place:
            self.owner.in_place = False
        self.in_place.setChecked(self.owner.in_place)
        self.to_file.setChecked(not self.owner.in_place)
        self._mode_changed()
        self.error.hide()

    def browse(self) -> None:
        picker = QFileDialog(
            self,
            "Restore to a new file",
            self.path.text(),
            "SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)",
        )
        picker.setObjectName("restore-picker")
        picker.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        picker.fileSelected.connect(self._picked)
        picker.open()

    def _picked(self, path: str) -> None:
        self.path.setText(path)
        self.to_file.setChecked(True)
        self._confirmed_overwrite = Path(path)  # the save dialog asked about replacing it
        self.error.hide()

    def _mode_changed(self) -> None:
        self.path.setEnabled(self.to_file.isChecked())
        self.in_place_note.setEnabled(self.in_place.isChecked())

    def validatePage(self) -> bool:
        record = self.owner.snapshot
        assert record is not None
        in_place = self.in_place.isChecked()
        target = None if in_place else Path(self.path.text().strip()).expanduser()
        overwrite = target is not None and target == self._confirmed_overwrite
        try:
            if target is not None and not target.name:
                raise LifeboatError("give the path of the new file", "")
            # lexists: a symbolic link, even to nothing, is a file there to replace
            if target is not None and os.path.lexists(target) and not overwrite:
                raise LifeboatError(
                    f"{target} already exists",
                    "choose another name, or pick it with Browse… to replace it",
                )
            resolved = self.owner.service.restore_target(record.id, target)
        except LifeboatError as exc:
            message, hint = error_lines(exc)
            self.error.setText(f"{message} {hint}" if hint else message)
            self.error.show()
            return False
        self.owner.in_place, self.owner.target, self.owner.overwrite = (
            in_place,
            resolved,
            overwrite,
        )
        return True


def free_name(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem+suffix`, or with -2, -3… added: a name nothing is at yet."""
    path, n = folder / f"{stem}{suffix}", 2
    while os.path.lexists(path):  # a link, even to nothing, is there
        path, n = folder / f"{stem}-{n}{suffix}", n + 1
    return path
