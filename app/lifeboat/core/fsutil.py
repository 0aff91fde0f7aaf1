"""Durable file operations: atomic writes, directory fsync, free space, advisory locks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lifeboat.foundation.errors import AlreadyRunning, LifeboatError, OperationFailed
from lifeboat.foundation.units import format_bytes

if TYPE_CHECKING:
    from lifeboat.core.runs import Run


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside `path` durable (no-op where the OS cannot)."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, run: Run) -> None:
    """Write `data` so that `path` holds either the old or the new content, never a mix.

    The new content goes to a private work file of `run` (created exclusively, 0600,
    never through a link), is fsynced and renamed over `path`. A run killed before the
    rename leaves only that work file, which a sweep removes once the run has ended."""
    from lifeboat.core.private import write_new

    tmp = run.work_path(path.parent, "write")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def publish(tmp: Path, final: Path) -> None:
    """Rename a fully written and fsynced temporary file into place, durably."""
    os.replace(tmp, final)
    fsync_dir(final.parent)


def free_bytes(path: Path) -> int:
    """Free space for an unprivileged user on the filesystem holding `path`."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def require_space(path: Path, needed: int, what: str) -> None:
    free = free_bytes(path)
    if free < needed:
        raise OperationFailed(
            f"not enough free space in {path} for {what}: needs {format_bytes(needed)}, "
            f"{format_bytes(free)} free",
            "free some space there or choose another folder",
        )


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))


class FileLock:
    """An advisory, process-wide exclusive lock held on an open file.

    The OS drops it when the process dies (kill -9 included), so it never goes stale.
    """

    def __init__(self, path: Path, *, make_folder: bool = True) -> None:
        self.path = path
        #: False: a folder that is gone stays gone (FileNotFoundError), never remade
        self.make_folder = make_folder
        self._fh: BinaryIO | None = None

    def try_acquire(self) -> bool:
        # A lock file has a fixed name every process opens, so it cannot be created
        # exclusively; it is opened without following a link, 0600, and never written.
        from lifeboat.core.private import private_dir

        if self.make_folder:
            private_dir(self.path.parent, "folder")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LifeboatError(
                    f"the lock file {self.path} is a symbolic link",
                    "remove the link; Lifeboat never follows it",
                ) from None
            raise
        fh = os.fdopen(fd, "r+b")
        try:
            _lock(fh.fileno())
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def acquire_within(self, patience: float, *, poll: float = 0.1) -> bool:
        """Wait up to `patience` seconds for the lock: a rebuild or a prune holds a
        folder for moments, which must not fail the other; a backup holds it longer."""
        deadline = time.monotonic() + patience
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        fh = self._fh
        self._fh = None
        if fh is not None:
            with contextlib.suppress(OSError):
                _unlock(fh.fileno())
            fh.close()

    @property
    def held(self) -> bool:
        return self._fh is not None


@contextlib.contextmanager
def hold_lock(path: Path, busy_message: str, hint: str | None = None) -> Iterator[FileLock]:
    lock = FileLock(path)
    if not lock.try_acquire():
        raise AlreadyRunning(busy_message, hint)
    try:
        yield lock
    finally:
        lock.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
