"""The History dialog's two tabs: Snapshots (the table, the files needing attention, and
the buttons for the selected snapshot) and Jobs (the table and the selected job's
details).

The tabs show and select; what the buttons do is the dialog's (history_dialog.py), which
connects them.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.catalog_records import AttentionItem, SnapshotRecord
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.history_copies import folder_unavailable, upload_tip, upload_unavailable
from lifeboat.gui.history_models import (
    ID_ROLE,
    JobTable,
    SnapshotTable,
    SourceFilter,
    drill_lines,
    parse_time,
)
from lifeboat.gui.text import plural, short_time


class SnapshotsTab(QWidget):
    """The snapshots (newest first once loaded), the files needing attention, and the
    buttons for the selected snapshot (also the table's context menu, with the same
    mnemonics): Restore this…, Browse…, Verify, Pin, Save a copy…, Show in folder, Upload
    now and Delete…; Browse… opens the snapshot in `browse` (the Browse window)."""

    def __init__(
        self,
        view: SourceFilter,
        snapshots: SnapshotTable,
        browse: Callable[[PointWanted], None] | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        self.snapshots = snapshots
        self.table = make_table(view, "snapshot-table")
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        actions = QHBoxLayout()
        self.restore_button = _button(actions, "restore-this", "&Restore this…")
        self.browse_button = _button(actions, "browse-this", "&Browse…")
        self.browse_button.clicked.connect(lambda: self._browse(browse))
        self.browse_button.setVisible(browse is not None)
        self.verify_button = _button(actions, "verify", "&Verify")
        self.pin_button = _button(actions, "pin", "&Pin")
        self.copy_button = _button(actions, "save-copy", "&Save a copy…")
        self.folder_button = _button(actions, "show-in-folder", "Show in &folder")
        self.upload_button = _button(actions, "upload-now", "&Upload now")
        actions.addStretch(1)
        self.delete_button = _button(actions, "delete", "&Delete…")
        self.attention_box = AttentionBox()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.attention_box)
        layout.addLayout(actions)

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return str(rows[0].data(ID_ROLE)) if rows else None

    def selected(self) -> SnapshotRecord | None:
        ref = self.selected_id()
        return next((r for r in self.snapshots.rows if r.id == ref), None)

    def select(self, snapshot_id: str) -> bool:
        for row in range(self.view.rowCount()):
            index = self.view.index(row, 0)
            if index.data(ID_ROLE) == snapshot_id:
                self.table.selectionModel().select(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(index)
                return True
        return False

    def _browse(self, browse: Callable[[PointWanted], None] | None) -> None:
        record = self.selected()
        if record is not None and browse is not None:
            browse(PointWanted(record.source, snapshot=record.id))

    def enable_actions(self, *, busy: bool) -> None:
        """The buttons that fit the selected snapshot (none while a verification runs)."""
        record = self.selected()
        for button in self._action_buttons():
            button.setEnabled(record is not None and not busy)
        if record is None:
            return
        self.pin_button.setText("Un&pin" if record.manifest.protected else "&Pin")
        raw = record.manifest.kind == "raw"
        self.browse_button.setEnabled(not raw)
        self.browse_button.setToolTip(
            "A raw copy of a damaged database: its rows cannot be read"
            if raw
            else "Look inside this snapshot without restoring it"
        )
        self.pin_button.setEnabled(not busy and record.manifest.kind != "raw")
        _why_not(
            self.delete_button,
            busy,
            "Unpin it first: pinned snapshots are kept" if record.manifest.protected else None,
        )
        _why_not(self.folder_button, busy, folder_unavailable(record))
        remote = self.snapshots.remote_of.get(record.source)
        _why_not(self.upload_button, busy, upload_unavailable(record, remote))
        if self.upload_button.isEnabled():
            self.upload_button.setToolTip(upload_tip(record, remote))

    def _action_buttons(self) -> tuple[QPushButton, ...]:
        shown = (self.browse_button,) if not self.browse_button.isHidden() else ()
        return (
            self.restore_button,
            *shown,
            self.verify_button,
            self.pin_button,
            self.copy_button,
            self.folder_button,
            self.upload_button,
            self.delete_button,
        )

    def _menu(self, point: QPoint) -> None:
        if self.selected() is None:
            return
        menu = QMenu(self)
        menu.setObjectName("snapshot-menu")
        menu.setToolTipsVisible(True)
        for button in self._action_buttons():
            if button is self.delete_button:
                menu.addSeparator()
            action = menu.addAction(button.text(), button.click)
            action.setEnabled(button.isEnabled())
            action.setToolTip(button.toolTip())
        self.menu = menu
        menu.popup(self.table.viewport().mapToGlobal(point))


class AttentionBox(QWidget):
    """Files kept but not usable as they are, with a button to recover them (hidden
    while there are none)."""

    def __init__(self) -> None:
        super().__init__()
        self.files = QLabel()
        self.files.setObjectName("needs-attention")
        self.files.setWordWrap(True)
        self.files.setTextFormat(Qt.TextFormat.RichText)
        self.recover_button = QPushButton("Recover them")
        self.recover_button.setObjectName("recover")
        self.recover_button.setToolTip(
            "Rebuild the index of snapshots from the files, recovering what can be recovered"
        )
        row = QHBoxLayout()
        row.addWidget(self.files, 1)
        row.addWidget(self.recover_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setLayout(row)
        self.hide()

    def show_items(self, items: list[AttentionItem]) -> None:
        """Files kept but not usable as they are: shown, never hidden or deleted."""
        self.setVisible(bool(items))
        if not items:
            return
        lines = "".join(
            f"<li><b>{html.escape(item.path.name)}</b> ({html.escape(item.source or '?')}): "
            f"{html.escape(item.reason)}</li>"
            for item in items[:8]
        )
        more = f"<li>and {len(items) - 8} more</li>" if len(items) > 8 else ""
        self.files.setText(
            f"<p><b>Needs attention:</b> Lifeboat keeps these files "
            f"but cannot use them as they are. Nothing was deleted.</p>"
            f"<ul>{lines}{more}</ul>"
        )


class JobsTab(QWidget):
    """The jobs (newest first once loaded) and the selected one's details and error."""

    def __init__(self, view: SourceFilter, jobs: JobTable) -> None:
        super().__init__()
        self.jobs = jobs
        self.table = make_table(view, "job-table")
        self.table.selectionModel().selectionChanged.connect(self.show_selected_job)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("job-detail")
        self.detail.setReadOnly(True)
        self.detail.setMaximumHeight(90)
        self.detail.setPlaceholderText("Select a job to see its details.")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.detail)

    def show_selected_job(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        job = next((j for j in self.jobs.rows if rows and j.id == rows[0].data(ID_ROLE)), None)
        if job is None:
            self.detail.clear()
            return
        moment = parse_time(job.started_at or job.queued_at)
        when = f", {short_time(moment)}" if moment else ""
        lines = [f"Job {job.id}: {job.kind} {job.source or ''}, {job.status} ({job.trigger}{when})"]
        if job.snapshot_id:
            lines.append(f"Snapshot: {job.snapshot_id}")
        if job.error:
            lines.append(f"Error: {job.error}")
        lines += drill_lines(job)
        self.detail.setPlainText("\n".join(lines))


#: How many rows beyond those on screen the column widths are measured on.
SIZE_SAMPLE_ROWS = 50


def make_table(model: SourceFilter, name: str) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    # Columns fit the rows on screen and this many more, not all of them: measuring
    # every cell of 10,000 snapshots (Qt's default is 1,000 rows, measured again at
    # each reload) was most of the seconds History took to open.
    table.horizontalHeader().setResizeContentsPrecision(SIZE_SAMPLE_ROWS)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


def source_filter_row(changed: Callable[[], None]) -> tuple[QComboBox, QHBoxLayout]:
    """The "Show:" row above the tables: its choice of database (calls `changed`)."""
    combo = QComboBox()
    combo.setObjectName("source-filter")
    combo.addItem("All databases", None)
    combo.currentIndexChanged.connect(lambda _index: changed())
    row = QHBoxLayout()
    row.addWidget(QLabel("Show:"))
    row.addWidget(combo)
    row.addStretch(1)
    return combo, row


def refill_filter(combo: QComboBox, names: list[str]) -> None:
    """The "Show:" choices: all databases, then each by name; the choice is kept."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem("All databases", None)
    for name in names:
        combo.addItem(name, name)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    combo.blockSignals(False)


def recovered_text(report: object) -> str:
    """What recovering snapshots from their files came to (a rebuild's report)."""
    recovered = plural(len(getattr(report, "recovered", [])), "snapshot")
    left = len(getattr(report, "attention", []))
    if not left:
        return f"Recovered {recovered}."
    verb = "needs" if left == 1 else "need"
    return f"Recovered {recovered}; {plural(left, 'file')} still {verb} attention."


def _why_not(button: QPushButton, busy: bool, reason: str | None) -> None:
    """Enabled unless busy or there is a reason not to, which its tooltip says."""
    button.setEnabled(not busy and reason is None)
    button.setToolTip(reason or "")


def _button(layout: QHBoxLayout, name: str, text: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    layout.addWidget(button)
    return button
