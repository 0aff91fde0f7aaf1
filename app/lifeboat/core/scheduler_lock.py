"""Only one scheduler per config: a lock file held for the process's lifetime."""

from __future__ import annotations

import os

from lifeboat.core.fsutil import FileLock
from lifeboat.core.private import private_dir, replace_file
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import LifeboatPaths


class SchedulerRunning(LifeboatError):
    """Another process already schedules this config (bad request: exit 2)."""


class SchedulerLock:
    """Held by the one process (daemon or tray) that schedules a config's backups."""

    def __init__(self, paths: LifeboatPaths) -> None:
        self.path = paths.run_dir / "scheduler.lock"
        self._lock = FileLock(self.path)

    def acquire(self, what: str = "scheduler") -> None:
        private_dir(self.path.parent, "run folder")
        if not self._lock.try_acquire():
            pid = self.holder()
            who = f" (pid {pid})" if pid else ""
            raise SchedulerRunning(
                f"another Lifeboat {what}{who} already schedules backups "
                f"for {self.path.parent.parent}",
                "stop it first, or use it: `lifeboat status` shows its work",
            )
        pid_file = self.path.with_suffix(".pid")
        replace_file(pid_file, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._lock.held:
            self.path.with_suffix(".pid").unlink(missing_ok=True)
        self._lock.release()

    def holder(self) -> int | None:
        """The pid of the process holding the lock, if any holds it."""
        probe = FileLock(self.path)
        if probe.try_acquire():
            probe.release()
            return None
        try:
            return int(self.path.with_suffix(".pid").read_text().strip())
        except (OSError, ValueError):
            return -1
