"""The tray application: starts the parts, and does what the menu and the windows ask.

(launch.py starts it as a process.) TrayApp owns the event
bridge, the live status, the tray icon (or the main window where there is no tray), the
notifications, and the scheduler thread, or, when a `lifeboat run` daemon already
schedules this config, it only watches. Dialogs are imported when first opened.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from lifeboat.core.scheduler_lock import SchedulerRunning
from lifeboat.foundation.errors import AlreadyRunning, LifeboatError
from lifeboat.foundation.states import Trigger
from lifeboat.gui.app_windows import WindowCommands
from lifeboat.gui.backup_window import (
    BackupProgress,
    follow_backup_under_way,
    grey_backups_under_way,
)
from lifeboat.gui.bridge import EventBridge
from lifeboat.gui.folders import open_backup_folder, open_folder
from lifeboat.gui.garbage import GuiThreadCollection
from lifeboat.gui.icons import TrayIcons, desktop_is_dark
from lifeboat.gui.live_status import LiveStatus
from lifeboat.gui.main_window import MainWindow
from lifeboat.gui.memory import TrimAfterWork
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.notifications import Notification, Notifier, load_told, remember_told
from lifeboat.gui.open_dialogs import OpenDialogs, bring_forward
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.gui.tray import TrayIcon
from lifeboat.gui.workers import run_in_background, running_tasks, wait_for_tasks
from lifeboat.scheduling.pause import Pause, save_pause
from lifeboat.service import Service

if TYPE_CHECKING:
    from lifeboat.gui.scheduler_thread import SchedulerThread

log = logging.getLogger(__name__)

TRAY_POLL_MS = 3000
TRAY_POLL_TRIES = 40


class TrayApp(QObject, WindowCommands):
    #: Everything has stopped (after Quit): the process may leave its event loop.
    stopped = Signal()

    def __init__(
        self, service: Service, *, use_tray: bool | None = None, tick_seconds: float = 15.0
    ) -> None:
        super().__init__()
        self.service = service
        self.paths = service.paths
        self.bridge = EventBridge(self)
        self._unsubscribe = service.subscribe(self.bridge.post)
        self.status = LiveStatus(service, self)
        self.icons = TrayIcons(self)
        self.preferences = TrayPreferences.load(self.paths)
        self.notifier = Notifier(
            self.notify,
            lambda: self.preferences,
            told=load_told(self.paths),
            remember=remember_told(service, self.paths),
            again=lambda at: QTimer.singleShot(
                max(0, int((at - self.status.now()).total_seconds() * 1000)), self.status.refresh
            ),
        )
        self.bridge.subscribe(self.status.on_event)
        self.status.changed.connect(self._status_changed)
        self.window = MainWindow(self.status, self, self.icons)
        self.backups = BackupProgress(
            self._cancel_job, self._manual_backup_failed, dark=desktop_is_dark()
        )
        self.bridge.subscribe(self.backups.on_event)
        self.status.changed.connect(self._grey_backups_under_way)
        self._collection = GuiThreadCollection(self)  # cycles freed on this thread only
        self._trim = TrimAfterWork(lambda: bool(self.status.activity), self)
        self.bridge.subscribe(self._trim.on_event)
        self._auto_tray = use_tray is None
        self.tray: TrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray:
            self._create_tray()
        self.window.has_tray = self.tray is not None
        self.scheduler: SchedulerThread | None = None  # while this process schedules
        self._tick_seconds = tick_seconds
        self._lock = service.scheduler_lock()
        self._dialogs = OpenDialogs(on_closed=self._trim.soon)
        self._tray_tries = 0
        self._stopped = False
        self._first_run_offered = False

    def start(self, *, show_window: bool = True) -> None:
        if self.tray is not None:
            self.tray.show()
        if show_window or self.tray is None:
            self.show_main_window()
        if self.tray is None and self._auto_tray:
            QTimer.singleShot(TRAY_POLL_MS, self._look_for_tray)
        self._claim_scheduling()
        self.status.refresh()

    # -- the schedule --------------------------------------------------------------

    def _claim_scheduling(self) -> bool:
        """Schedule backups here, unless a daemon does (then only watch it)."""
        try:
            self._lock.acquire("tray")
        except SchedulerRunning:
            self.status.set_watching(self._lock.holder() or -1)
            log.info("another process schedules backups; the tray only shows them")
            return False
        from lifeboat.gui.scheduler_thread import SchedulerThread

        thread = SchedulerThread(self.service, self, tick_seconds=self._tick_seconds)
        thread.command_failed.connect(self._command_failed)
        thread.paused_changed.connect(self.status.set_paused)
        thread.ready.connect(self.status.refresh)
        thread.ready.connect(self._trim.soon)  # the start-up's reads are over
        thread.start()
        self.scheduler = thread
        self.status.set_watching(None)
        return True

    def _status_changed(self) -> None:
        status = self.status.status
        if status is None or self._stopped:
            return
        if not status.sources and not self._first_run_offered and not self._stopped:
            self._first_run_offered = True  # once per launch: closing it is an answer
            self.show_first_run()
        if self.status.read_at is not None:
            known = [s.name for s in status.sources]
            self.notifier.update(self.status.problems, known, self.status.read_at)
        if self.status.watching_pid and status.scheduler_pid is None and not self._stopped:
            log.info("the scheduling process has ended; the tray schedules from now on")
            self._claim_scheduling()

    # -- commands (AppCommands) ------------------------------------------------------

    def backup_now(self, source: str | None = None) -> None:
        """Back up one source (or all) now, and show how it goes in the backup window. A
        source whose backup is already queued or running is not asked again: the window
        follows the one under way."""
        if source:
            names = [source]
        elif self.status.status is not None:
            names = [s.name for s in self.status.sources]
        else:  # asked before the first status read
            names = [s.name for s in self.service.sources()]
        if not names:
            self.add_database()
            return
        names = [name for name in names if self._begin_manual_backup(name)]
        self._grey_backups_under_way()
        if not names:
            return
        if self.scheduler is not None:
            self.scheduler.backup_now(names)
            return
        for name in names:  # a daemon schedules: run it here; folder locks stop overlaps
            run_in_background(
                partial(self.service.run_backup, name, trigger=Trigger.MANUAL),
                what=f"back up {name}",
                work=True,
                on_failed=partial(self._command_failed, f"back up {name}"),
            )

    def can_back_up(self, source: str) -> bool:
        """False while a backup of `source` is queued or running (the menus grey it)."""
        return not (self.backups.busy(source) or self.status.is_busy(source))

    def cancel_backup(self, source: str) -> None:
        self.backups.cancel(source)

    def _begin_manual_backup(self, name: str) -> bool:
        known = {s.name: s for s in self.status.sources}
        running = [j.job_id for j in self.status.jobs_of(name) if j.kind == "backup"]
        remote = known[name].remote if name in known else None
        return self.backups.begin(name, remote, running[0] if running else None)

    def _grey_backups_under_way(self) -> None:
        names = [s.name for s in self.status.sources]
        grey_backups_under_way(self.tray, self.window, names, self.can_back_up)

    def _cancel_job(self, job_id: int) -> None:
        run_in_background(
            partial(self.service.cancel_job, job_id), what=f"cancel job {job_id}", work=False
        )

    def _manual_backup_failed(self, source: str, message: str) -> None:
        self.notify(Notification(f"Backup of {source} failed", message, "error"))

    def set_paused(self, paused: bool, until: datetime | None = None) -> None:
        """Pause (until `until`, or until resumed) or resume; a daemon follows it too."""
        pause = Pause(paused, until if paused else None)
        run_in_background(
            partial(save_pause, self.service, pause),
            what="pause the schedules" if paused else "resume the schedules",
            on_done=self._pause_saved,
            on_failed=partial(self._command_failed, "pause the schedules"),
        )

    def _pause_saved(self, _: object) -> None:
        if self.scheduler is not None:
            self.scheduler.reload()  # follows the pause file now, not at its next tick
        self.status.refresh()

    def show_main_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def add_database(self) -> None:
        """With no database yet, the first-run flow; else Settings with the file picker."""
        if self.status.status is not None and not self.status.sources:
            self.show_first_run()
        else:
            self.show_settings(add_database=True)

    def show_first_run(self) -> None:
        from lifeboat.gui.first_run import FirstRunWizard

        # The wizard takes the first backups itself: nothing to start once it is saved.
        bring_forward(
            self._dialogs.get(
                "first-run",
                lambda: FirstRunWizard(
                    self.service, on_saved=lambda _: self._settings_saved(self.preferences, [])
                ),
            )
        )

    def show_settings(self, add_database: bool = False) -> None:
        from lifeboat.gui.settings_dialog import SettingsDialog

        dialog = self._dialogs.get(
            "settings",
            lambda: SettingsDialog(self.service, self.preferences, on_saved=self._settings_saved),
        )
        assert isinstance(dialog, SettingsDialog)
        bring_forward(dialog)
        if add_database:
            dialog.pick_database()

    def show_about(self) -> None:
        from lifeboat.gui.about import AboutDialog

        bring_forward(self._dialogs.get("about", lambda: AboutDialog(self.paths)))

    def open_log(self) -> None:
        """The log file in the desktop's text viewer (its folder when there is no log)."""
        from lifeboat.gui.about import open_log

        open_log(self.paths)

    def open_backup_folder(self, source: str | None = None) -> None:
        open_backup_folder(self.service, source)

    def open_folder(self, folder: Path) -> None:
        open_folder(folder)

    def quit(self) -> None:
        busy = [j for j in self.status.activity.values() if j.running] or running_tasks(
            work_only=True
        )
        if not busy:
            self.shutdown()
            return
        ask(
            self.window if self.window.isVisible() else None,
            "Quit Lifeboat?",
            "Lifeboat is still working.",
            "Quitting now cancels what runs (a backup or a restore); nothing half-done is "
            "kept, and the database stays as it was.",
            "Quit anyway",
            self.shutdown,
            danger=True,
        )

    def shutdown(self) -> None:
        """Stop everything (running work is cancelled) and leave the event loop."""
        if self._stopped:
            return
        self._stopped = True
        log.info("the tray is quitting")
        self.status.stop()
        self._unsubscribe()
        self.window.quitting = True
        for task in running_tasks():
            task.cancel.cancel("stopped: Lifeboat is quitting")
        for dialog in self._dialogs:
            dialog.close()
        self.backups.window.close()
        self.window.close()
        if self.tray is not None:
            self.tray.hide()
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        wait_for_tasks(15_000)
        self._collection.stop(restore=False)  # the process ends: see gui/garbage.py
        self._lock.release()
        self.stopped.emit()

    # -- notifications and errors ----------------------------------------------------

    def notify(self, note: Notification) -> None:
        icons = {
            "error": QSystemTrayIcon.MessageIcon.Critical,
            "warning": QSystemTrayIcon.MessageIcon.Warning,
            "info": QSystemTrayIcon.MessageIcon.Information,
        }
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(note.title, note.text, icons[note.level], 15_000)
        else:
            self.window.show_notice(note.title, note.text, note.level)

    def _command_failed(self, what: str, exc: object) -> None:
        if isinstance(exc, AlreadyRunning) and what.startswith("back up "):
            # Not a failure: the backup already queued or running is the one to follow.
            follow_backup_under_way(self.service, self.backups, what.removeprefix("back up "))
            return
        if what.startswith("back up ") and isinstance(exc, LifeboatError):
            self.backups.failed_to_start(what.removeprefix("back up "), exc.message)
            return
        if isinstance(exc, BaseException):
            show_error(None, exc, title=f"Could not {what}")

    # -- helpers ---------------------------------------------------------------------

    def _settings_saved(self, preferences: TrayPreferences, added: list[str]) -> None:
        self.preferences = preferences
        if self.scheduler is not None:
            self.scheduler.reload()
        for name in added:  # each new database's first backup, now
            self.backup_now(name)
        self.status.refresh_soon()

    def _create_tray(self) -> None:
        self.tray = TrayIcon(self.status, self, self.icons)
        self.tray.messageClicked.connect(self.show_main_window)
        # Once, and after the tray's own update (which enables its entries again).
        with contextlib.suppress(RuntimeError):
            self.status.changed.disconnect(self._grey_backups_under_way)
        self.status.changed.connect(self._grey_backups_under_way)

    def _look_for_tray(self) -> None:
        """At login the panel may start after us: add the icon when a tray appears."""
        if self.tray is not None or self._stopped:
            return
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._create_tray()
            assert self.tray is not None
            self.tray.show()
            self.window.has_tray = True
            log.info("a system tray appeared: the icon is shown there")
            return
        self._tray_tries += 1
        if self._tray_tries < TRAY_POLL_TRIES:
            QTimer.singleShot(TRAY_POLL_MS, self._look_for_tray)
