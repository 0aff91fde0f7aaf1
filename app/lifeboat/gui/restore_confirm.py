"""The restore wizard's confirm page: what will happen, in words, and what the restore
would change in the live database (compared off the GUI thread while the user reads),
for a snapshot or for a point of the continuous history."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWizard, QWizardPage

from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.core.encryption import MissingIdentity
from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.gui.messages import sentence
from lifeboat.gui.restore_moment import moment_text
from lifeboat.gui.text import local_time, size_text, time_ago
from lifeboat.gui.wording import in_gui_words
from lifeboat.gui.workers import Task, run_in_background

if TYPE_CHECKING:
    from lifeboat.gui.restore_wizard import RestoreWizard


class ConfirmPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Ready to restore")
        self.setSubTitle("Check what will happen, then click Restore.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Restore")
        self.text = QLabel()
        self.text.setObjectName("restore-summary")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        # What the restore would change, compared off the GUI thread while the user reads.
        self.preview = QLabel()
        self.preview.setObjectName("restore-preview")
        self.preview.setWordWrap(True)
        self.preview_bar = QProgressBar()
        self.preview_bar.setTextVisible(False)
        self._preview_task: Task | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.preview)
        layout.addWidget(self.preview_bar)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.text.setText(describe_choice(self.owner))
        self._stop_preview()
        record, point = self.owner.snapshot, self.owner.point
        if not self.owner.in_place or record is None:
            self.preview.hide()
            self.preview_bar.hide()
            return
        self.preview.setText("Comparing it with the database as it is now…")
        self.preview.show()
        self.preview_bar.setRange(0, 0)
        self.preview_bar.show()
        service = self.owner.service

        def preview(progress: Progress, cancel: CancelToken) -> DatabaseDiff:
            if point is not None:
                return service.preview_point(
                    point.source, point.commit_time, progress=progress, cancel=cancel
                )[1]
            return service.preview(record.id, progress=progress, cancel=cancel)

        self._preview_task = run_in_background(
            preview,
            what="restore preview",
            with_progress=True,
            owner=self,
            on_done=self._previewed,
            on_failed=self._preview_failed,
            on_progress=self._preview_progress,
        )

    def cleanupPage(self) -> None:
        self._stop_preview()
        super().cleanupPage()

    def _stop_preview(self) -> None:
        if self._preview_task is not None:
            self._preview_task.cancel.cancel()
            self._preview_task = None

    def _preview_progress(self, phase: str, done: int, total: int) -> None:
        if phase == "compare" and total:
            self.preview_bar.setRange(0, total)
            self.preview_bar.setValue(done)

    def _previewed(self, diff: DatabaseDiff) -> None:
        self._preview_task = None
        self.preview_bar.hide()
        self.preview.setText(summarize(diff))

    def _preview_failed(self, error: BaseException) -> None:
        self._preview_task = None
        self.preview_bar.hide()
        if isinstance(error, Cancelled):
            return
        self.preview.setText(preview_failure_text(error))


def preview_failure_text(error: BaseException) -> str:
    """Why there is no preview, truthfully: the restore reads the same snapshot, so what
    stopped the preview may stop the restore too (which checks it before changing
    anything)."""
    if isinstance(error, MissingIdentity):
        return (
            "No preview of the changes: this snapshot is encrypted and this computer has "
            "no key that opens it. Import your recovery key (Settings → Remote → Import "
            "a key…): the restore cannot open it either."
        )
    message = (
        sentence(in_gui_words(error.message))
        if isinstance(error, LifeboatError)
        else "See the log."
    )
    return (
        f"No preview of the changes. {message} The restore checks the snapshot before it "
        "changes anything, and stops if it cannot read it."
    )


def describe_choice(wizard: RestoreWizard) -> str:
    """The confirm page's text (rich text)."""
    record, target, point = wizard.snapshot, wizard.target, wizard.point
    assert record is not None and target is not None
    source, target_text = html.escape(record.source), html.escape(str(target))
    if point is not None:
        age = time_ago(point.commit_time, datetime.now(UTC))
        head = (
            f"<p>Restore <b>{source}</b> to how it was at <b>{moment_text(point.commit_time)}"
            f"</b> ({age}), right after the change captured then, from its continuous "
            f"history (on snapshot {record.id}).</p>"
        )
    else:
        when = local_time(record.manifest.created_at)
        age = time_ago(record.manifest.created_at, datetime.now(UTC))
        head = (
            f"<p>Restore <b>{source}</b> to how it was on <b>{when}</b> ({age}), "
            f"from snapshot {record.id} ({size_text(record.manifest.db_size)}).</p>"
        )
    if wizard.in_place:
        return head + (
            f"<p>This replaces <b>{target_text}</b>.</p><p>A safety snapshot of the "
            "current file is taken first, so you can go back to it from "
            "History.</p>"
        )
    replace = " It replaces the file that is there." if wizard.overwrite else ""
    return head + (
        f"<p>It is written as a new file: <b>{target_text}</b>.{replace}</p>"
        "<p>The database itself is not touched.</p>"
    )
