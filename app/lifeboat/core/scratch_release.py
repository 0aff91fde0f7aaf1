"""Freeing the part of a scratch copy that its one reader has read for good.

An in-place restore extracts the snapshot into a scratch file that SQLite's backup API
reads once, in order, into the database (jobs/restore_in_place.py). Kept whole, that
file is a second copy of the database written through the page cache: at 10 GiB the
kernel writes most of it to disk before it is deleted, a third of all the restore's
writes. Punching out (fallocate PUNCH_HOLE) what the write has copied drops those pages,
dirty or not, before they are written back, and the extraction is held at most a window
ahead of the write (core/written_so_far.py): the scratch then costs memory and disk for
the window only. Where the file system or the platform cannot punch holes, the file is
kept whole: slower, the same bytes.

The file's first `keep` bytes stay: every backup step begins a read transaction on the
copy, which reads its header (page 1) again; so do the 64 KiB from SQLite's lock-byte
offset (1 GiB), which the committing step reads again when the database's page size is
larger than the copy's.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

from lifeboat.core.linux_libc import linux_libc_function

_PUNCH_HOLE_KEEP_SIZE = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_BLOCK = 4096
#: Never freed: where the database's page size is larger than the copy's, SQLite's backup
#: API reads the copy's pages in its lock-byte page's range again in the committing step
#: (backup.c: they are written straight to the database file, past PENDING_BYTE).
_PENDING_BYTE = 0x40000000
_READ_AGAIN = (_PENDING_BYTE, _PENDING_BYTE + 65536)

Fallocate = Callable[[int, int, int, int], int]


def _fallocate() -> Fallocate | None:
    """libc's fallocate (Linux), or None where there is none."""
    return linux_libc_function(
        "fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64
    )


class ReadBehind:
    """Punches out of `path` what its reader is done with (`release(upto)`), past its
    first `keep` bytes. Opened on the first release (the writer creates the file)."""

    def __init__(self, path: Path, keep: int) -> None:
        self._path = path
        self._released = -(-keep // _BLOCK) * _BLOCK
        self._freed = 0
        self._fd = -1
        self._punch = _fallocate()

    @property
    def active(self) -> bool:
        """Whether releasing frees anything here (else the file is simply kept whole)."""
        return self._punch is not None

    @property
    def freed(self) -> int:
        """How many bytes were punched out so far."""
        return self._freed

    def release(self, upto: int) -> None:
        """The reader needs nothing before `upto` (past `keep`) any more."""
        end = upto // _BLOCK * _BLOCK
        if self._punch is None or end <= self._released:
            return
        if self._fd < 0:
            try:
                # Our own scratch file, opened to punch only: never through a link
                self._fd = os.open(self._path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                # its writer failed and removed it: the reader is told why when it waits
                self._punch = None
                return
        for start, stop in _outside(self._released, end, _READ_AGAIN):
            if not self._punched(start, stop):
                return
        self._released = end

    def _punched(self, start: int, stop: int) -> bool:
        assert self._punch is not None
        if self._punch(self._fd, _PUNCH_HOLE_KEEP_SIZE, start, stop - start) == 0:
            self._freed += stop - start
            return True
        # Whatever refused (no hole punching here, EPERM, EINVAL), what was not punched
        # holds its bytes: the copy is kept whole from here on, slower, still correct.
        self._punch = None
        return False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _outside(start: int, stop: int, kept: tuple[int, int]) -> list[tuple[int, int]]:
    """The parts of [start, stop) outside `kept`."""
    low, high = kept
    parts = [(start, min(stop, low)), (max(start, high), stop)]
    return [(a, b) for a, b in parts if a < b]
