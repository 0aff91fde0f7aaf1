"""The scheduler, hosted in a QThread.

The thread builds and starts the Scheduler (which keeps its own worker threads), then
runs the GUI's commands (back up now, pause, resume, reload) one after another, so the
GUI thread never waits on the scheduler or the catalog. Events go out through the
callback it was given (the bridge); results of commands come back as signals.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal

from lifeboat.foundation.errors import LifeboatError
from lifeboat.scheduling.scheduler import Scheduler
from lifeboat.service import Service

log = logging.getLogger(__name__)

Command = Callable[[Scheduler], object]


def _backup_command(source: str) -> Command:
    def command(scheduler: Scheduler) -> object:
        return scheduler.backup_now(source)

    return command


class SchedulerThread(QThread):
    ready = Signal()
    #: (what was asked, the error); errors that are not LifeboatErrors were logged.
    command_failed = Signal(str, object)
    paused_changed = Signal(bool)

    def __init__(
        self,
        service: Service,
        parent: QObject | None = None,
        *,
        tick_seconds: float = 15.0,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("lifeboat-scheduler")
        self._service = service
        self._tick_seconds = tick_seconds
        self._commands: queue.Queue[tuple[str, Command] | None] = queue.Queue()
        self.scheduler: Scheduler | None = None
        self.paused = False

    # -- asked from the GUI thread ---------------------------------------------------

    def backup_now(self, sources: list[str]) -> None:
        """Queue a backup of each source (through the scheduler's queue)."""
        for source in sources:
            self.submit(f"back up {source}", _backup_command(source))

    def pause(self) -> None:
        self.submit("pause the schedules", self._set_paused(True))

    def resume(self) -> None:
        self.submit("resume the schedules", self._set_paused(False))

    def reload(self) -> None:
        """Pick up changed settings now (the scheduler also notices within a tick)."""
        self.submit("reload the settings", lambda s: s.tick())

    def submit(self, what: str, command: Command) -> None:
        self._commands.put((what, command))

    def stop(self, timeout: float = 8.0) -> bool:
        """Stop scheduling (running jobs are cancelled) and wait for the thread."""
        self._commands.put(None)
        return self.wait(int(timeout * 1000))

    # -- in the thread ---------------------------------------------------------------

    def run(self) -> None:
        try:
            scheduler = Scheduler(self._service, tick_seconds=self._tick_seconds)
            scheduler.start()
        except Exception as exc:
            if not isinstance(exc, LifeboatError):
                log.exception("the scheduler did not start")
            self.command_failed.emit("start the scheduler", exc)
            return
        self.scheduler = scheduler
        self.ready.emit()
        try:
            while (item := self._commands.get()) is not None:
                what, command = item
                try:
                    command(scheduler)
                except LifeboatError as exc:
                    self.command_failed.emit(what, exc)
                except Exception as exc:
                    log.exception("could not %s", what)
                    self.command_failed.emit(what, exc)
        finally:
            scheduler.shutdown()
            self.scheduler = None

    def _set_paused(self, paused: bool) -> Command:
        def command(scheduler: Scheduler) -> None:
            if paused:
                scheduler.pause()
            else:
                scheduler.resume()
            self.paused = paused
            self.paused_changed.emit(paused)

        return command
