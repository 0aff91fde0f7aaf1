"""Getting a large new file to disk while it is written, so its final fsync is short.

`Writeback(fd)` is told how far the file is written (`reached(size)`). Every 64 MiB it
starts the kernel's writeback of that chunk without waiting (Linux: sync_file_range with
SYNC_FILE_RANGE_WRITE), and waits for the chunk before it, so at most two chunks are
dirty at any time. Elsewhere it calls fdatasync every 64 MiB instead.

Why not fdatasync from another thread while writing goes on: measured on ext4, it
chases the pages written meanwhile and slowed the writing down twice over. This is only
about speed: durability is still the caller's final fsync (sync_file_range does not
flush metadata or the disk's cache).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from lifeboat.core.linux_libc import linux_libc_function

CHUNK = 64 << 20
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

SyncRange = Callable[[int, int, int, int], int]


class Writeback:
    """Start writing a growing file to disk chunk by chunk (see the module's docstring)."""

    def __init__(self, fd: int, *, start: int = 0) -> None:
        """`start`: where the part of the file followed begins (what is before it is
        someone else's to write back)."""
        self._fd = fd
        self._started = start  # bytes whose writeback was started
        self._last = start  # where the last chunk started
        self._first = start
        self._sync_range = sync_file_range()

    def reached(self, size: int) -> None:
        """The file is now written up to `size` bytes."""
        if size - self._started < CHUNK:
            return
        if self._sync_range is None:
            _datasync(self._fd)
        else:
            self._call(self._started, size - self._started, _WRITE)
            if self._started > self._first:  # the chunk before: wait until it is on disk
                flags = _WAIT_BEFORE | _WRITE | _WAIT_AFTER
                self._call(self._last, self._started - self._last, flags)
        self._last, self._started = self._started, size

    def _call(self, offset: int, size: int, flags: int) -> None:
        assert self._sync_range is not None
        if self._sync_range(self._fd, offset, size, flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


def sync_file_range() -> SyncRange | None:
    """libc's sync_file_range (Linux), or None where there is none."""
    return linux_libc_function(
        "sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint
    )


def _datasync(fd: int) -> None:
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS, Windows
        os.fsync(fd)
