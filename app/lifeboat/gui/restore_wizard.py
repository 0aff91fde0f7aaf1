"""The restore wizard: choose database → choose snapshot (the newest good one is
preselected) → in place (a safety snapshot is taken first) or to a new file → confirm
→ progress with Cancel → result, with "Open folder".

From History ("Restore this"), `start_with(snapshot_id=...)` walks the first pages with
their defaults (in place where possible) and stops at the confirm page: one click.
The restore itself runs in the thread pool through service.restore; progress comes back
as signals, Cancel goes through the job's CancelToken.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.encryption import MissingIdentity
from lifeboat.core.results import PointChoice, RestoreOutcome
from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import ask, error_lines, show_error
from lifeboat.gui.restore_confirm import ConfirmPage
from lifeboat.gui.restore_moment import CommitChanges, moment_text
from lifeboat.gui.restore_pages import SnapshotPage, SourcePage, TargetPage
from lifeboat.gui.steady import reserve_lines
from lifeboat.gui.text import local_time, percent, phase_text
from lifeboat.gui.workers import Task, run_in_background
from lifeboat.service import Service

SOURCE, SNAPSHOT, TARGET, CONFIRM, PROGRESS, RESULT = range(6)


class RestoreWizard(QWizard):
    def __init__(
        self,
        service: Service,
        *,
        open_folder: Callable[[Path], None],
        commit_changes: CommitChanges | None = None,
        browse: Callable[[PointWanted], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("restore-wizard")
        self.setWindowTitle("Restore a database")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage)
        self.service = service
        self.open_folder = open_folder
        self.browse = browse  # the Browse window, from the snapshot page
        #: what each commit changed, row by row (the service's count unless a test
        #: gives its own)
        self.commit_changes: CommitChanges = commit_changes or service.commit_changes
        # what was chosen (the pages set these)
        self.source: str | None = None
        self.snapshot: SnapshotRecord | None = None
        #: a point of the continuous history (then `snapshot` is its chain's base)
        self.point: PointChoice | None = None
        self.in_place = True
        self.target: Path | None = None
        self.overwrite = False
        # what to preselect (History's "Restore this")
        self.preset_source: str | None = None
        self.preset_snapshot: str | None = None
        self.preset_in_place: bool | None = None
        # the run
        self.task: Task | None = None
        self.outcome: RestoreOutcome | None = None
        self.failure: BaseException | None = None
        self.setPage(SOURCE, SourcePage(self))
        self.setPage(SNAPSHOT, SnapshotPage(self))
        self.setPage(TARGET, TargetPage(self))
        self.setPage(CONFIRM, ConfirmPage(self))
        self.setPage(PROGRESS, ProgressPage(self))
        self.setPage(RESULT, ResultPage(self))
        self.setStartId(SOURCE)
        self.resize(680, 500)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def start_with(self, *, source: str | None = None, snapshot_id: str | None = None) -> None:
        """Start over, preselecting a database, or a snapshot (then stop at Confirm)."""
        record = None
        if snapshot_id is not None:
            try:
                record = self.service.snapshot(snapshot_id)
            except LifeboatError as exc:
                show_error(self, exc)
        self.preset_source = record.source if record else source
        self.preset_snapshot = record.id if record else None
        self.preset_in_place = True if record else None
        self.source = self.snapshot = self.point = None
        try:
            self.restart()
            if self.preset_source is not None:
                self.next()
            if record is not None:
                self.next()
                self.next()
        finally:
            self.preset_source = self.preset_snapshot = None
            self.preset_in_place = None

    # -- running -------------------------------------------------------------------------

    def run_restore(self) -> None:
        assert self.snapshot is not None
        record, target = self.snapshot, None if self.in_place else self.target
        point, overwrite, service = self.point, self.overwrite, self.service
        self.outcome = self.failure = None

        def restore(progress: Progress, cancel: CancelToken) -> RestoreOutcome:
            if point is not None:
                return service.restore_point(
                    point.source,
                    point.commit_time,
                    to=target,
                    overwrite=overwrite,
                    progress=progress,
                    cancel=cancel,
                )
            return service.restore(
                record.id, to=target, overwrite=overwrite, progress=progress, cancel=cancel
            )

        what = (
            f"restore {record.source} as it was at {point.commit_time}"
            if point
            else (f"restore snapshot {record.id} of {record.source}")
        )
        self.task = run_in_background(
            restore,
            what=what,
            on_done=self._restored,
            on_failed=self._failed,
            on_progress=self.progress_page.show_progress,
            owner=self,
            work=True,
        )
        self._lock_buttons(True)

    def cancel_restore(self) -> None:
        if self.task is not None:
            self.task.cancel.cancel("cancelled")
            self.progress_page.cancelling()

    def _restored(self, outcome: RestoreOutcome) -> None:
        self.task, self.outcome = None, outcome
        self._finished()

    def _failed(self, exc: BaseException) -> None:
        self.task, self.failure = None, exc
        self._finished()

    def _finished(self) -> None:
        self._lock_buttons(False)
        self.progress_page.completeChanged.emit()
        if self.currentId() == PROGRESS:
            self.next()

    def _lock_buttons(self, busy: bool) -> None:
        self.button(QWizard.WizardButton.CancelButton).setEnabled(not busy)

    @property
    def progress_page(self) -> ProgressPage:
        page = self.page(PROGRESS)
        assert isinstance(page, ProgressPage)
        return page

    def reject(self) -> None:
        if self.busy:
            ask(
                self,
                "Cancel the restore?",
                "Cancel the restore?",
                "Nothing is changed: the database stays as it was.",
                "Cancel restore",
                self.cancel_restore,
                no="Keep going",
            )
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)


class ProgressPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Restoring…")
        self.setSubTitle("The snapshot is checked before anything is touched.")
        self.phase = reserve_lines(QLabel("Starting…"))
        self.phase.setObjectName("restore-phase")
        self.bar = QProgressBar()
        self.bar.setObjectName("restore-progress")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancel-restore")
        self.cancel.clicked.connect(wizard.cancel_restore)
        layout = QVBoxLayout(self)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.bar.setRange(0, 0)
        self.phase.setText("Starting…")
        self.cancel.setEnabled(True)
        self.owner.run_restore()

    def isComplete(self) -> bool:
        return not self.owner.busy

    def show_progress(self, phase: str, done: int, total: int) -> None:
        if not self.cancel.isEnabled():
            return  # cancelling
        self.bar.setRange(0, 100 if total else 0)
        self.bar.setValue(percent(done, total))
        self.phase.setText(f"{phase_text(phase)}…")

    def cancelling(self) -> None:
        self.cancel.setEnabled(False)
        self.phase.setText("Cancelling…")


class ResultPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setFinalPage(True)
        self.text = QLabel()
        self.text.setObjectName("restore-result")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open folder")
        self.open_button.setObjectName("open-folder")
        self.open_button.clicked.connect(self._open_folder)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)

    def initializePage(self) -> None:
        outcome, failure = self.owner.outcome, self.owner.failure
        self.open_button.setVisible(outcome is not None)
        self.setSubTitle(" ")
        if outcome is not None:
            self.setTitle("Restored")
            self.text.setText(self._success(outcome))
        elif isinstance(failure, Cancelled):
            self.setTitle("Cancelled")
            self.text.setText(
                "<p>The restore was cancelled. Nothing was changed: the database is as it was.</p>"
            )
        else:
            self.setTitle("The restore did not happen")
            message, hint = error_lines(failure or RuntimeError("unknown"))
            if isinstance(failure, MissingIdentity):  # its hint names the command
                hint = (
                    "Import your recovery key (Settings → Remote → Import a key…), "
                    "then restore again."
                )
            self.text.setText(
                f"<p><b>{html.escape(message)}</b></p>"
                f"<p>{html.escape(hint)}</p><p>The database was not changed."
                "</p>"
            )

    def _success(self, outcome: RestoreOutcome) -> str:
        record, point = self.owner.snapshot, self.owner.point
        assert record is not None
        when = (
            f"{moment_text(point.commit_time)}, right after the change captured then"
            if point is not None
            else local_time(record.manifest.created_at)
        )
        target = html.escape(str(outcome.target))
        lines = [
            f"<p><b>{target}</b> now holds the data of {html.escape(record.source)} "
            f"as it was on {when}.</p>"
        ]
        if outcome.safety_snapshot:
            lines.append(
                f"<p>The database as it was just before is kept as safety "
                f"snapshot {outcome.safety_snapshot} (see History).</p>"
            )
        if outcome.method == "file-replace":
            lines.append("<p>Programs that had the database open must close and reopen it.</p>")
        if outcome.method == "unchanged":
            lines.append("<p>It already held exactly this data: nothing was written.</p>")
        return "".join(lines)

    def _open_folder(self) -> None:
        if self.owner.outcome is not None:
            self.owner.open_folder(self.owner.outcome.target.parent)
