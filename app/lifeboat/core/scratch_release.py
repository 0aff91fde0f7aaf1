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
copy, which reads its header (page 1) again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

_PUNCH_HOLE_KEEP_SIZE = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_BLOCK = 4096

Fallocate = Callable[[int, int, int, int], int]


@functools.cache
def _fallocate() -> Fallocate | None:
    """libc's fallocate (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


class ReadBehind:
    """Punches out of `path` what its reader is done with (`release(upto)`), past its
    first `keep` bytes. Opened on the first release (the writer creates the file)."""

    def __init__(self, path: Path, keep: int) -> None:
        self._path = path
        self._released = self._kept = -(-keep // _BLOCK) * _BLOCK
        self._fd = -1
        self._punch = _fallocate()

    @property
    def active(self) -> bool:
        """Whether releasing frees anything here (else the file is simply kept whole)."""
        return self._punch is not None

    @property
    def freed(self) -> int:
        """How many bytes were punched out so far."""
        return self._released - self._kept

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
        if self._punch(self._fd, _PUNCH_HOLE_KEEP_SIZE, self._released, end - self._released):
            err = ctypes.get_errno()
            if err in (errno.EOPNOTSUPP, errno.ENOSYS):
                self._punch = None  # this file system keeps the file whole: still correct
                return
            raise OSError(err, os.strerror(err), str(self._path))
        self._released = end

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
