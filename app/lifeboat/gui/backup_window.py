"""The small window a "Back up now" opens: one row per database, one bar across all of
the backup's steps (gui/backup_progress.py), a Cancel button, and how it ended in words.

Why a window of its own: "Back up now" is mostly clicked in the tray menu, which closes
at once, and the main window is usually hidden; a tooltip shows only while hovered. A
small window where the click happened answers "is it doing it?", holds the Cancel button
and keeps a failure's reason on screen until it is read. Closing it never stops the
backup (the tray and the main window still show it); a failure that happens while it is
closed comes as a notification instead. When every backup in it worked, it closes itself
after a few seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from lifeboat.foundation.events import Event
from lifeboat.gui.backup_progress import ManualBackup, ManualBackups, Stage
from lifeboat.gui.icon_art import PALETTE
from lifeboat.gui.icons import app_icon
from lifeboat.gui.workers import run_in_background

if TYPE_CHECKING:
    from lifeboat.gui.main_window import MainWindow
    from lifeboat.gui.tray import TrayIcon
    from lifeboat.service import Service

BAR_STEPS = 1000
CLOSE_AFTER_SUCCESS_MS = 4000
SETTLE_MS = 2000

#: How an ended backup's line is coloured (the light-panel variant: the window is light
#: unless the desktop is dark, where the palette's dark variant is used).
_ENDED = {Stage.DONE: "success", Stage.FAILED: "error", Stage.CANCELLED: "paused"}


class BackupRow:
    """The widgets of one database's backup in the window's grid."""

    def __init__(self, grid: QGridLayout, row: int, source: str, cancel: Callable[[], None]):
        self.name = QLabel(f"<b>{source}</b>")
        self.bar = QProgressBar()
        self.bar.setObjectName(f"progress:{source}")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(260)
        self.text = QLabel()
        self.text.setObjectName(f"progress-text:{source}")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        # Two lines reserved: a failure's reason does not push the rows around.
        self.text.setMinimumHeight(2 * self.text.fontMetrics().lineSpacing())
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName(f"cancel:{source}")
        self.cancel.clicked.connect(cancel)
        keep = self.cancel.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the bar keeps its width when Cancel goes
        self.cancel.setSizePolicy(keep)
        grid.addWidget(self.name, 2 * row, 0)
        grid.addWidget(self.bar, 2 * row, 1)
        grid.addWidget(self.cancel, 2 * row, 2)
        grid.addWidget(self.text, 2 * row + 1, 1, 1, 2)

    def show(self, backup: ManualBackup, dark: bool) -> None:
        waiting = backup.stage is Stage.WAITING and not backup.cancel_asked
        if waiting:
            self.bar.setRange(0, 0)  # busy: no job has started yet
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(round(backup.fraction * BAR_STEPS))
        self.text.setText(backup.text())
        colour = ""
        if backup.stage in _ENDED:
            colour = PALETTE["dark" if dark else "light"][_ENDED[backup.stage]].disc
        self.text.setStyleSheet(f"color: {colour};" if colour else "")
        self.cancel.setVisible(not backup.stage.over)
        self.cancel.setEnabled(not backup.cancel_asked)


class BackupWindow(QWidget):
    """Shows the manual backups of `backups`; asks `cancel(source)` to stop one."""

    def __init__(
        self, backups: ManualBackups, cancel: Callable[[str], None], *, dark: bool = False
    ) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setObjectName("backup-window")
        self.setWindowTitle("Back up now — Lifeboat")
        self.setWindowIcon(app_icon())
        self.backups = backups
        self._cancel = cancel
        self._dark = dark
        self.rows: dict[str, BackupRow] = {}
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        buttons = QDialogButtonBox()
        self.close_button = buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button.setObjectName("close")
        self.close_button.setToolTip("The backups go on; the tray shows how far they are")
        buttons.rejected.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self._close_later = QTimer(self)
        self._close_later.setSingleShot(True)
        self._close_later.timeout.connect(self._close_if_all_worked)

    def row(self, source: str) -> BackupRow:
        if source not in self.rows:
            self.rows[source] = BackupRow(
                self.grid, len(self.rows), source, lambda: self._cancel(source)
            )
        return self.rows[source]

    def refresh(self, backup: ManualBackup) -> None:
        self.row(backup.source).show(backup, self._dark)
        self.adjustSize()
        if self._all_worked():
            self._close_later.start(CLOSE_AFTER_SUCCESS_MS)
        else:
            self._close_later.stop()

    def forget_ended(self) -> None:
        """Before new backups start: drop the rows of the ones that ended."""
        ended = [s for s in self.rows if self.backups.active(s) is None]
        if not ended:
            return
        for row in self.rows.values():
            for widget in (row.name, row.bar, row.text, row.cancel):
                widget.deleteLater()
        keep = [s for s in self.rows if s not in ended]
        self.rows = {}
        for source in keep:
            self.refresh(self.backups.backups[source])

    def _all_worked(self) -> bool:
        ours = [self.backups.backups[s] for s in self.rows if s in self.backups.backups]
        return bool(ours) and all(b.stage is Stage.DONE for b in ours)

    def _close_if_all_worked(self) -> None:
        if self._all_worked():
            self.hide()


class BackupProgress:
    """Follows the manual backups (events from the bridge) and keeps the window current.

    `notify_failure(source, message)` is called for a failure while the window is hidden.
    """

    def __init__(
        self,
        cancel_job: Callable[[int], None],
        notify_failure: Callable[[str, str], None],
        *,
        dark: bool = False,
    ) -> None:
        self.manual = ManualBackups()
        self._cancel_job = cancel_job
        self._notify_failure = notify_failure
        self.window = BackupWindow(self.manual, self.cancel, dark=dark)
        self._cancels_sent: set[int] = set()
        self._settle = QTimer(self.window)
        self._settle.timeout.connect(self._settle_uploads)

    def begin(self, source: str, uploads_to: str | None, running_job: int | None) -> bool:
        """A backup of `source` was asked for: follow it and show the window. False when
        one is already under way (then it is only shown)."""
        if self.manual.active(source) is None:
            if not self.window.isVisible():
                self.window.forget_ended()
            self.manual.start(source, uploads_to)
            started = True
        else:
            started = False
        if running_job is not None:
            self.manual.attach(source, running_job)
        self.window.refresh(self.manual.backups[source])
        self.show()
        return started and running_job is None

    def busy(self, source: str) -> bool:
        return self.manual.active(source) is not None

    def show(self) -> None:
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def cancel(self, source: str) -> None:
        backup = self.manual.active(source)
        if backup is None or backup.cancel_asked:
            return
        backup.cancel_asked = True
        self._send_cancel(backup)
        self.window.refresh(backup)

    def _send_cancel(self, backup: ManualBackup) -> None:
        job = backup.job_id
        if backup.cancel_asked and job is not None and job not in self._cancels_sent:
            self._cancels_sent.add(job)
            self._cancel_job(job)

    def on_event(self, event: Event) -> None:
        backup = self.manual.on_event(event, time.monotonic())
        if backup is None:
            return
        if not backup.stage.over:
            self._send_cancel(backup)  # asked before its job was known, or its upload
        if backup.stage is Stage.FINISHING and not self._settle.isActive():
            self._settle.start(SETTLE_MS)
        self.window.refresh(backup)
        if backup.stage is Stage.FAILED and not self.window.isVisible():
            self._notify_failure(backup.source, backup.message)

    def follow(self, source: str, job_id: int) -> None:
        """Follow the backup of `source` already under way (asked for twice at once)."""
        self.manual.attach(source, job_id)

    def failed_to_start(self, source: str, message: str) -> None:
        """The request itself failed (the source is gone, Lifeboat is quitting)."""
        backup = self.manual.active(source)
        if backup is None:
            return
        backup.stage, backup.message = Stage.FAILED, f"The backup did not start: {message}"
        self.window.refresh(backup)
        if not self.window.isVisible():
            self._notify_failure(source, backup.message)

    def _settle_uploads(self) -> None:
        for backup in self.manual.settle(time.monotonic()):
            self.window.refresh(backup)
        if not any(b.stage is Stage.FINISHING for b in self.manual.backups.values()):
            self._settle.stop()


def grey_backups_under_way(
    tray: TrayIcon | None, window: MainWindow, names: list[str], can: Callable[[str], bool]
) -> None:
    """ "Back up now" for a database whose backup runs is greyed (tray menu, main window)."""
    free = [name for name in names if can(name)]
    if tray is not None:
        for name in names:
            with contextlib.suppress(KeyError):
                tray.action(f"backup:{name}").setEnabled(name in free)
        with contextlib.suppress(KeyError):
            tray.action("backup-all").setEnabled(bool(free))
    with contextlib.suppress(KeyError):
        window.button("backup-all").setEnabled(bool(free))


def follow_backup_under_way(service: Service, backups: BackupProgress, source: str) -> None:
    """A backup asked for while one of `source` was already queued or running (the
    scheduler refused the second): follow that one instead of calling it a failure."""

    def under_way() -> list[int]:
        jobs = service.jobs(limit=10, source=source)
        return [j.id for j in jobs if j.kind == "backup" and not j.status.finished]

    run_in_background(
        under_way,
        what=f"find the backup of {source} under way",
        on_done=lambda ids: backups.follow(source, ids[0]) if ids else None,
    )
