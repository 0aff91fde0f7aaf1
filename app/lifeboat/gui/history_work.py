"""History's bottom row: the message line, and the progress and Cancel button of the one
long piece of work it runs at a time (a verification, a saved copy, an upload)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from lifeboat.gui.steady import reserve_lines
from lifeboat.gui.text import percent, phase_text
from lifeboat.gui.workers import Task, run_in_background


class WorkRow(QWidget):
    """Runs `fn(progress, cancel)` in the background with progress; `ended` when it
    stops, whichever way (busy again: False)."""

    ended = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.task: Task | None = None
        # Two lines kept: "Verifying snapshot … of notes: 45%" wraps, never clipped, and
        # the table above does not jump when it does.
        self.message = reserve_lines(QLabel())
        self.message.setObjectName("history-message")
        self.progress = QProgressBar()
        self.progress.setObjectName("verify-progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-verify")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.message, 1)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()

    @property
    def busy(self) -> bool:
        return self.task is not None

    def run(
        self,
        fn: Callable[..., Any],
        *,
        what: str,
        text: str,
        on_done: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        """Start `fn` (nothing if something runs already); the callbacks run after the
        row is free again."""
        if self.task is not None:
            return
        self.message.setText(text)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)

        def done(result: object) -> None:
            self._end()
            on_done(result)

        def failed(exc: BaseException) -> None:
            self._end()
            on_failed(exc)

        self.task = run_in_background(
            fn,
            what=what,
            on_done=done,
            on_failed=failed,
            on_progress=self._progress,
            owner=self,
            work=True,
        )

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel.cancel("cancelled")
            self.cancel_button.setEnabled(False)
            self.message.setText("Cancelling…")

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.progress.setRange(0, 100 if total else 0)
        self.progress.setValue(percent(done, total))
        self.progress.setFormat(f"{phase_text(phase)} %p%")

    def _end(self) -> None:
        self.task = None
        self.progress.hide()
        self.cancel_button.hide()
        self.ended.emit()
