"""History: every snapshot (sortable, filterable by database) with its actions, and the
job history with errors (the two tabs: history_tabs.py).

Restore this… opens the restore wizard at its confirm page. Verify runs in the
background with progress and a Cancel button; pin/unpin and delete too (they touch
files). The tables reload when a job ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.results import RestoreOutcome, UploadResult, VerifyResult
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.events import Event, JobFinished
from lifeboat.gui import history_copies as copies
from lifeboat.gui.backup_search import MissingBackupsNote
from lifeboat.gui.bridge import EventBridge
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.history_drills import DrillsTab, DrillTable
from lifeboat.gui.history_models import JobTable, SnapshotTable, SourceFilter
from lifeboat.gui.history_reads import FIRST_ROWS, History, read_history
from lifeboat.gui.history_tabs import (
    JobsTab,
    SnapshotsTab,
    recovered_text,
    refill_filter,
    source_filter_row,
)
from lifeboat.gui.history_work import WorkRow
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.snapshot_deletion import delete_question, deleted_text
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.deletion import DeletionEffects


class HistoryDialog(QDialog):
    first_rows = FIRST_ROWS

    def __init__(
        self,
        service: Service,
        bridge: EventBridge,
        *,
        restore: Callable[[str], None],
        browse: Callable[[PointWanted], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("history-dialog")
        self.setWindowTitle("Lifeboat history")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.restore = restore
        self.sources: dict[str, SourceConfig] = {}
        self.loaded = 0  # how many times the tables were (re)loaded with every row
        self.shown = 0  # how many times rows were shown (the first ones on opening too)
        self._reads = 0  # reloads asked for: only the last one's rows are shown
        self._complete = 0  # the last reload whose rows were all shown
        self.snapshots = SnapshotTable()
        self.jobs = JobTable()
        self.snapshot_view = SourceFilter(self.snapshots)
        self.job_view = SourceFilter(self.jobs)
        self.drills = DrillTable()
        self.drill_view = SourceFilter(self.drills)
        self._build(browse)
        bridge.subscribe(self._on_event)
        self.reload()
        self.resize(1000, 520)

    def _build(self, browse: Callable[[PointWanted], None] | None) -> None:
        self.source_filter, top = source_filter_row(self._filter)
        self.snapshots_tab = SnapshotsTab(self.snapshot_view, self.snapshots, browse)
        self.jobs_tab = JobsTab(self.job_view, self.jobs)
        self._connect_snapshot_actions()
        # The parts this dialog and its tests reach by name.
        self.snapshot_table = self.snapshots_tab.table
        self.restore_button = self.snapshots_tab.restore_button
        self.verify_button = self.snapshots_tab.verify_button
        self.pin_button = self.snapshots_tab.pin_button
        self.delete_button = self.snapshots_tab.delete_button
        self.attention_box = self.snapshots_tab.attention_box
        self.attention = self.attention_box.files
        self.recover_button = self.attention_box.recover_button
        self.job_table = self.jobs_tab.table
        self.job_detail = self.jobs_tab.detail
        self.tabs = QTabWidget()
        self.tabs.addTab(self.snapshots_tab, "S&napshots")
        self.tabs.addTab(self.jobs_tab, "&Jobs")
        self.drills_tab = DrillsTab(self.drill_view, self.drills)
        self.tabs.addTab(self.drills_tab, "Dr&ills")
        self.work = WorkRow()
        self.work.ended.connect(self._selection_changed)
        self.message = self.work.message
        self.progress = self.work.progress
        self.cancel_button = self.work.cancel_button
        self.missing_note = MissingBackupsNote(self.service)
        self.missing_note.searched.connect(self.reload)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.missing_note)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.work)
        self._selection_changed()

    def _connect_snapshot_actions(self) -> None:
        tab = self.snapshots_tab
        tab.table.doubleClicked.connect(lambda _i: self.restore_selected())
        tab.table.selectionModel().selectionChanged.connect(self._selection_changed)
        tab.restore_button.clicked.connect(self.restore_selected)
        tab.verify_button.clicked.connect(self.verify_selected)
        tab.pin_button.clicked.connect(self.toggle_pin)
        tab.delete_button.clicked.connect(self.delete_selected)
        tab.copy_button.clicked.connect(self.save_copy)
        tab.folder_button.clicked.connect(self.show_in_folder)
        tab.upload_button.clicked.connect(self.upload_now)
        tab.attention_box.recover_button.clicked.connect(self.recover)

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        """Read the history again (in the background). On opening, the newest
        `first_rows` snapshots are read and shown first, while all of them are read:
        10,000 records take most of a second, and the window should not wait for them."""
        self._reads += 1
        reads = self._reads
        for limit in (self.first_rows, -1) if self.shown == 0 else (-1,):
            self._read_in_background(reads, limit)

    def _read_in_background(self, reads: int, limit: int) -> None:
        run_in_background(
            lambda: read_history(self.service, limit),
            what="read the history",
            on_done=lambda result: self._read(result, reads, limit),
            on_failed=lambda exc: show_error(self, exc),
            owner=self,
        )

    def _read(self, result: History, reads: int, limit: int) -> None:
        """Show what the last reload read: the first rows (unless all came already),
        or all of them (unless the first rows were all there is)."""
        complete = limit < 0 or len(result[0]) < limit
        if reads != self._reads or self._complete == reads:
            return
        self._loaded(result)
        if complete:
            self._complete = reads
            self.loaded += 1

    def _loaded(self, result: History) -> None:
        snapshots, jobs, self.sources, attention, (remotes, unknown) = result
        remote_of = {name: source.remote for name, source in self.sources.items()}
        self.attention_box.show_items(attention)
        self.missing_note.explain(any_snapshots=bool(snapshots), remotes=remotes, unknown=unknown)
        selected = self.snapshots_tab.selected_id()
        self.snapshots.set_snapshots(snapshots, remote_of)
        self.jobs.set_rows(jobs)
        self.drills.set_jobs(jobs)
        names = list(remote_of) + sorted({r.source for r in snapshots} - set(remote_of))
        refill_filter(self.source_filter, names)
        if self.shown == 0:
            for table in (self.snapshot_table, self.job_table, self.drills_tab.table):
                table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.shown += 1
        if selected:
            self.select_snapshot(selected)
        self._selection_changed()

    def recover(self) -> None:
        """Re-derive what can be recovered from the files (off the GUI thread)."""
        self.recover_button.setEnabled(False)
        self.message.setText("Recovering snapshots from their files…")

        def done(report: object) -> None:
            self.recover_button.setEnabled(True)
            self.message.setText(recovered_text(report))
            self.reload()

        def failed(exc: BaseException) -> None:
            self.recover_button.setEnabled(True)
            self.message.setText("")
            show_error(self, exc)

        run_in_background(
            self.service.rebuild_catalog,
            what="recover snapshots",
            on_done=done,
            on_failed=failed,
            owner=self,
        )

    def _on_event(self, event: Event) -> None:
        if isinstance(event, JobFinished):
            self.reload()

    def show_source(self, source: str | None) -> None:
        """Show one database's history (None: all)."""
        index = self.source_filter.findData(source)
        if index < 0 and source is not None:
            self.source_filter.addItem(source, source)
            index = self.source_filter.count() - 1
        self.source_filter.setCurrentIndex(max(0, index))
        self._filter()

    def _filter(self) -> None:
        source = self.source_filter.currentData()
        self.snapshot_view.set_source(source)
        self.job_view.set_source(source)
        self.drill_view.set_source(source)
        self._selection_changed()

    # -- selection -------------------------------------------------------------------

    def selected(self) -> SnapshotRecord | None:
        return self.snapshots_tab.selected()

    def select_snapshot(self, snapshot_id: str) -> bool:
        return self.snapshots_tab.select(snapshot_id)

    def _selection_changed(self) -> None:
        self.snapshots_tab.enable_actions(busy=self.work.busy)

    # -- actions ---------------------------------------------------------------------

    def restore_selected(self) -> None:
        record = self.selected()
        if record is not None:
            self.restore(record.id)

    def verify_selected(self) -> None:
        record = self.selected()
        if record is None or self.work.busy:
            return
        self.work.run(
            lambda progress, cancel: self.service.verify(
                record.id, progress=progress, cancel=cancel
            ),
            what=f"verify snapshot {record.id}",
            text=f"Verifying snapshot {record.id}…",
            on_done=self._verified,
            on_failed=lambda exc: self._work_failed(exc, "Could not verify", "Verification"),
        )
        self._selection_changed()

    def cancel_verify(self) -> None:
        self.work.cancel()

    def _verified(self, results: list[VerifyResult]) -> None:
        for result in results:
            if result.ok:
                self.message.setText(
                    f"Snapshot {result.record.id} is intact: its checksum "
                    "matches and the database inside checks out."
                )
            elif result.base_only or result.missing:
                # Not proven damaged: its base failed, or a file is missing.
                self.message.setText(f"Snapshot {result.record.id}: {result.problem}")
            else:
                self.message.setText(f"Snapshot {result.record.id} is damaged: {result.problem}")
        self.reload()

    def _work_failed(self, exc: BaseException, title: str, what: str) -> None:
        if isinstance(exc, Cancelled):
            self.message.setText(f"{what} cancelled.")
            return
        self.message.setText("")
        show_error(self, exc, title=title)
        self.reload()

    def save_copy(self) -> None:
        """Save a copy…: a verified database file at a free name the user may change."""
        record = self.selected()
        if record is None or self.work.busy:
            return
        proposed = copies.proposed_copy(record, self.sources.get(record.source))
        self.copy_picker = copies.ask_copy_path(self, proposed, lambda to: self._save(record, to))

    def _save(self, record: SnapshotRecord, to: Path) -> None:
        if os.path.lexists(to):  # a link, even to nothing, is there
            show_error(self, copies.name_taken(to), title="Could not save a copy")
            return

        def saved(outcome: RestoreOutcome) -> None:
            self.message.setText(copies.saved_text(record, outcome))

        self.work.run(
            lambda progress, cancel: self.service.export_snapshot(
                record.id, to, progress=progress, cancel=cancel
            ),
            what=f"save a copy of snapshot {record.id}",
            text=f"Saving a copy of snapshot {record.id} as {to}…",
            on_done=saved,
            on_failed=lambda exc: self._work_failed(exc, "Could not save a copy", "Saving"),
        )
        self._selection_changed()

    def show_in_folder(self) -> None:
        record = self.selected()
        if record is not None and copies.folder_unavailable(record) is None:
            copies.show_in_folder(record)

    def upload_now(self) -> None:
        """Send what the database's remote does not hold yet, with progress."""
        record = self.selected()
        remote = self.snapshots.remote_of.get(record.source) if record else None
        if record is None or remote is None or self.work.busy:
            return
        source = record.source

        def uploaded(result: UploadResult) -> None:
            self.message.setText(copies.uploaded_text(source, remote, result))
            self.reload()

        self.work.run(
            lambda progress, cancel: self.service.upload(source, progress=progress, cancel=cancel),
            what=f"upload {source}",
            text=f"Uploading {source} to {remote}…",
            on_done=uploaded,
            on_failed=lambda exc: self._work_failed(exc, "Could not upload", "Upload"),
        )
        self._selection_changed()

    def toggle_pin(self) -> None:
        record = self.selected()
        if record is None:
            return
        pin = not record.manifest.protected
        self._background(
            lambda: self.service.set_protected(record.id, pin, "pinned" if pin else None),
            f"{'pin' if pin else 'unpin'} snapshot {record.id}",
            f"Snapshot {record.id} is {'pinned: retention keeps it' if pin else 'unpinned'}.",
        )

    def delete_selected(self) -> None:
        """Ask, naming what depends on the snapshot (read in the background), then delete."""
        record = self.selected()
        if record is None:
            return
        run_in_background(
            lambda: self.service.deletion_effects(record.id),
            what=f"read what depends on snapshot {record.id}",
            on_done=self._ask_delete,
            on_failed=lambda exc: show_error(self, exc),
            owner=self,
        )

    def _ask_delete(self, effects: DeletionEffects) -> None:
        question, detail = delete_question(effects)
        self.delete_box = ask(
            self,
            "Delete snapshot?",
            question,
            detail,
            "Delete",
            lambda: self._background(
                lambda: self.service.delete_snapshot(effects.record.id),
                f"delete snapshot {effects.record.id}",
                deleted_text(effects),
            ),
            danger=True,
        )

    def _background(self, work: Callable[[], object], what: str, done_text: str) -> None:
        def done(_: object) -> None:
            self.message.setText(done_text)
            self.reload()

        run_in_background(
            work,
            what=what,
            on_done=done,
            owner=self,
            on_failed=lambda exc: show_error(self, exc, title=f"Could not {what}"),
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_verify()
        super().closeEvent(event)
