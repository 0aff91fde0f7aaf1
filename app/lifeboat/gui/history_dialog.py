"""History: every snapshot (sortable, filterable by database) with its actions, and the
job history with errors.

Restore this… opens the restore wizard at its confirm page. Verify runs in the
background with progress and a Cancel button; pin/unpin and delete too (they touch
files). The tables reload when a job ends.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.catalog_records import AttentionItem, JobRecord, SnapshotRecord
from lifeboat.core.results import VerifyResult
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.events import Event, JobFinished
from lifeboat.gui.bridge import EventBridge
from lifeboat.gui.history_models import (
    ID_ROLE,
    JobTable,
    SnapshotTable,
    SourceFilter,
    drill_lines,
    parse_time,
)
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.text import percent, phase_text, short_time
from lifeboat.gui.workers import Task, run_in_background
from lifeboat.service import Service

JOB_LIMIT = 500
#: Snapshots, jobs, the remote each source uploads to (None: none), and the files kept
#: but not usable as they are.
History = tuple[list[SnapshotRecord], list[JobRecord], dict[str, str | None], list[AttentionItem]]


class HistoryDialog(QDialog):
    def __init__(
        self,
        service: Service,
        bridge: EventBridge,
        *,
        restore: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("history-dialog")
        self.setWindowTitle("Lifeboat history")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.restore = restore
        self.verifying: Task | None = None
        self.loaded = 0  # how many times the tables were (re)loaded
        self.snapshots = SnapshotTable()
        self.jobs = JobTable()
        self.snapshot_view = SourceFilter(self.snapshots)
        self.job_view = SourceFilter(self.jobs)
        self._build()
        bridge.subscribe(self._on_event)
        self.reload()
        self.resize(1000, 520)

    def _build(self) -> None:
        self.source_filter = QComboBox()
        self.source_filter.setObjectName("source-filter")
        self.source_filter.addItem("All databases", None)
        self.source_filter.currentIndexChanged.connect(self._filter)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.source_filter)
        top.addStretch(1)

        self.snapshot_table = _table(self.snapshot_view, "snapshot-table")
        self.snapshot_table.doubleClicked.connect(lambda _i: self.restore_selected())
        self.snapshot_table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.snapshot_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.snapshot_table.customContextMenuRequested.connect(self._snapshot_menu)
        actions = QHBoxLayout()
        self.restore_button = _button(
            actions, "restore-this", "Restore this…", self.restore_selected
        )
        self.verify_button = _button(actions, "verify", "Verify", self.verify_selected)
        self.pin_button = _button(actions, "pin", "Pin", self.toggle_pin)
        self.delete_button = _button(actions, "delete", "Delete…", self.delete_selected)
        actions.addStretch(1)
        self.attention = QLabel()
        self.attention.setObjectName("needs-attention")
        self.attention.setWordWrap(True)
        self.attention.setTextFormat(Qt.TextFormat.RichText)
        self.recover_button = QPushButton("Recover them")
        self.recover_button.setObjectName("recover")
        self.recover_button.setToolTip(
            "Rebuild the index of snapshots from the files, recovering what can be recovered"
        )
        self.recover_button.clicked.connect(self.recover)
        attention_row = QHBoxLayout()
        attention_row.addWidget(self.attention, 1)
        attention_row.addWidget(self.recover_button, 0, Qt.AlignmentFlag.AlignTop)
        self.attention_box = QWidget()
        self.attention_box.setLayout(attention_row)
        self.attention_box.hide()
        snapshots_tab = QWidget()
        layout = QVBoxLayout(snapshots_tab)
        layout.addWidget(self.snapshot_table)
        layout.addWidget(self.attention_box)
        layout.addLayout(actions)

        self.job_table = _table(self.job_view, "job-table")
        self.job_table.selectionModel().selectionChanged.connect(self._show_job)
        self.job_detail = QPlainTextEdit()
        self.job_detail.setObjectName("job-detail")
        self.job_detail.setReadOnly(True)
        self.job_detail.setMaximumHeight(90)
        self.job_detail.setPlaceholderText("Select a job to see its details.")
        jobs_tab = QWidget()
        layout = QVBoxLayout(jobs_tab)
        layout.addWidget(self.job_table)
        layout.addWidget(self.job_detail)

        self.tabs = QTabWidget()
        self.tabs.addTab(snapshots_tab, "Snapshots")
        self.tabs.addTab(jobs_tab, "Jobs")

        self.message = QLabel()
        self.message.setObjectName("history-message")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("verify-progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-verify")
        self.cancel_button.clicked.connect(self.cancel_verify)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)
        self._selection_changed()

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        def read() -> History:
            remote_of = {s.name: s.remote for s in self.service.sources()}
            return (
                self.service.snapshots(),
                self.service.jobs(limit=JOB_LIMIT),
                remote_of,
                self.service.attention(),
            )

        run_in_background(
            read,
            what="read the history",
            on_done=self._loaded,
            on_failed=lambda exc: show_error(self, exc),
            owner=self,
        )

    def _loaded(self, result: History) -> None:
        snapshots, jobs, remote_of, attention = result
        self._show_attention(attention)
        selected = self.selected_id()
        self.snapshots.set_snapshots(snapshots, remote_of)
        self.jobs.set_rows(jobs)
        names = list(remote_of) + sorted({r.source for r in snapshots} - set(remote_of))
        current = self.source_filter.currentData()
        self.source_filter.blockSignals(True)
        self.source_filter.clear()
        self.source_filter.addItem("All databases", None)
        for name in names:
            self.source_filter.addItem(name, name)
        self.source_filter.setCurrentIndex(max(0, self.source_filter.findData(current)))
        self.source_filter.blockSignals(False)
        if self.loaded == 0:
            for table in (self.snapshot_table, self.job_table):
                table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.loaded += 1
        if selected:
            self.select_snapshot(selected)
        self._selection_changed()

    def _show_attention(self, items: list[AttentionItem]) -> None:
        """Files kept but not usable as they are: shown, never hidden or deleted."""
        self.attention_box.setVisible(bool(items))
        if not items:
            return
        lines = "".join(
            f"<li><b>{html.escape(item.path.name)}</b> ({html.escape(item.source or '?')}): "
            f"{html.escape(item.reason)}</li>"
            for item in items[:8]
        )
        more = f"<li>and {len(items) - 8} more</li>" if len(items) > 8 else ""
        self.attention.setText(
            f"<p><b>Needs attention:</b> Lifeboat keeps these files "
            f"but cannot use them as they are. Nothing was deleted.</p>"
            f"<ul>{lines}{more}</ul>"
        )

    def recover(self) -> None:
        """Re-derive what can be recovered from the files (off the GUI thread)."""
        self.recover_button.setEnabled(False)
        self.message.setText("Recovering snapshots from their files…")

        def done(report: object) -> None:
            self.recover_button.setEnabled(True)
            recovered = len(getattr(report, "recovered", []))
            left = len(getattr(report, "attention", []))
            self.message.setText(
                f"Recovered {recovered} snapshot(s); {left} file(s) still need attention."
                if left
                else f"Recovered {recovered} snapshot(s)."
            )
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
        self._selection_changed()

    # -- selection -------------------------------------------------------------------

    def selected_id(self) -> str | None:
        rows = self.snapshot_table.selectionModel().selectedRows()
        return str(rows[0].data(ID_ROLE)) if rows else None

    def selected(self) -> SnapshotRecord | None:
        ref = self.selected_id()
        return next((r for r in self.snapshots.rows if r.id == ref), None)

    def select_snapshot(self, snapshot_id: str) -> bool:
        for row in range(self.snapshot_view.rowCount()):
            index = self.snapshot_view.index(row, 0)
            if index.data(ID_ROLE) == snapshot_id:
                self.snapshot_table.selectionModel().select(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.snapshot_table.scrollTo(index)
                return True
        return False

    def _selection_changed(self) -> None:
        record = self.selected()
        busy = self.verifying is not None
        for button in (
            self.restore_button,
            self.verify_button,
            self.pin_button,
            self.delete_button,
        ):
            button.setEnabled(record is not None and not busy)
        if record is not None:
            self.pin_button.setText("Unpin" if record.manifest.protected else "Pin")
            self.pin_button.setEnabled(not busy and record.manifest.kind != "raw")
            self.delete_button.setEnabled(not busy and not record.manifest.protected)
            self.delete_button.setToolTip(
                "Unpin it first: pinned snapshots are kept" if record.manifest.protected else ""
            )

    def _show_job(self) -> None:
        rows = self.job_table.selectionModel().selectedRows()
        job = next((j for j in self.jobs.rows if rows and j.id == rows[0].data(ID_ROLE)), None)
        if job is None:
            self.job_detail.clear()
            return
        moment = parse_time(job.started_at or job.queued_at)
        when = f", {short_time(moment)}" if moment else ""
        lines = [f"Job {job.id}: {job.kind} {job.source or ''}, {job.status} ({job.trigger}{when})"]
        if job.snapshot_id:
            lines.append(f"Snapshot: {job.snapshot_id}")
        if job.error:
            lines.append(f"Error: {job.error}")
        lines += drill_lines(job)
        self.job_detail.setPlainText("\n".join(lines))

    def _snapshot_menu(self, point: QPoint) -> None:
        if self.selected() is None:
            return
        menu = QMenu(self)
        for button in (
            self.restore_button,
            self.verify_button,
            self.pin_button,
            self.delete_button,
        ):
            action = menu.addAction(button.text(), button.click)
            action.setEnabled(button.isEnabled())
        menu.popup(self.snapshot_table.viewport().mapToGlobal(point))

    # -- actions ---------------------------------------------------------------------

    def restore_selected(self) -> None:
        record = self.selected()
        if record is not None:
            self.restore(record.id)

    def verify_selected(self) -> None:
        record = self.selected()
        if record is None or self.verifying is not None:
            return
        self.message.setText(f"Verifying snapshot {record.id}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.verifying = run_in_background(
            lambda progress, cancel: self.service.verify(
                record.id, progress=progress, cancel=cancel
            ),
            what=f"verify snapshot {record.id}",
            on_done=self._verified,
            on_failed=self._verify_failed,
            on_progress=self._verify_progress,
            owner=self,
            work=True,
        )
        self._selection_changed()

    def cancel_verify(self) -> None:
        if self.verifying is not None:
            self.verifying.cancel.cancel("cancelled")
            self.cancel_button.setEnabled(False)
            self.message.setText("Cancelling…")

    def _verify_progress(self, phase: str, done: int, total: int) -> None:
        self.progress.setRange(0, 100 if total else 0)
        self.progress.setValue(percent(done, total))
        self.progress.setFormat(f"{phase_text(phase)} %p%")

    def _verified(self, results: list[VerifyResult]) -> None:
        self._verify_ended()
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

    def _verify_failed(self, exc: BaseException) -> None:
        self._verify_ended()
        if isinstance(exc, Cancelled):
            self.message.setText("Verification cancelled.")
            return
        self.message.setText("")
        show_error(self, exc, title="Could not verify")
        self.reload()

    def _verify_ended(self) -> None:
        self.verifying = None
        self.progress.hide()
        self.cancel_button.hide()
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
        record = self.selected()
        if record is None:
            return
        ask(
            self,
            "Delete snapshot?",
            f"Delete the snapshot of {record.source} taken "
            f"{short_time(record.manifest.created_at)}?",
            "Its file is deleted for good; you cannot restore it afterwards.",
            "Delete",
            lambda: self._background(
                lambda: self.service.delete_snapshot(record.id),
                f"delete snapshot {record.id}",
                f"Snapshot {record.id} deleted.",
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


def _table(model: SourceFilter, name: str) -> QTableView:
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
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


def _button(layout: QHBoxLayout, name: str, text: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(slot)
    layout.addWidget(button)
    return button
