"""A frozen WAL database (core/wal_direct.py) copied into scratch, its read lock held briefly.

While a read transaction holds WAL read lock 0 no checkpoint can copy frames back into
the database file: an application that checkpoints (and its busy timeout) waits, or its
checkpoint fails, for as long as the lock is held. Packing straight from the frozen file
held it for as long as compressing takes (about 7 s per GiB). So the file is copied into
a private scratch file at page-cache speed (copy_file_range where the kernel has it:
an in-kernel copy, or a clone on file systems that share blocks), the read transaction
ends the moment the copy is whole, and the snapshot is checked and packed from the copy.
The compressor does not wait for the copy: it follows it, reading each piece as soon as
the copier has written it (CopyAhead).

The copy holds the frozen file's pages, page 1's header as a standalone copy's
(wal_direct.standalone_header), so it is itself a rollback-journal database that opens
without -wal, byte for byte what SQLite's backup API would have made.

Scratch space: one database's worth (the snapshot's room check asks for it before the
copy starts). A disk that fills up anyway fails the copy with ENOSPC: the read lock is
released at once, the compressor following it stops with that error, and the snapshot
fails as a full disk (the caller removes the partial copy and artifact).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lifeboat.core.wal_direct import FrozenWal, standalone_header
from lifeboat.foundation.progress import CancelToken

_PIECE = 16 << 20  # what the copier writes between telling the follower
#: copy_file_range errors that mean "not here" (another file system, no such call): copy
#: with pread/pwrite instead. Any other error (ENOSPC, EIO) is the copy's.
_NOT_HERE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}


class CopyFailed(Exception):
    """The copy into scratch failed with `error`: raised where the copy is read, so that
    the reader's own error handling (a compressor's "disk full while writing" its
    artifact) does not take the copy's error for its own."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class CopyAhead:
    """How far the copier has written, shared with the reader that follows it; the
    copier's error, if it failed; and how long it held the read transaction."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._changed = threading.Condition()
        self._copied = 0
        self._error: BaseException | None = None
        self._stopped = False
        self.held_from = 0.0  # wall clock, when the read transaction began
        self.held_seconds = 0.0
        self._locked_step = False

    def locked_step(self, on: bool) -> None:
        """The copier begins (or ends) a step under the database's lock, which the app's
        checkpoints wait for: a follower that asks (`wait_out_locked_step`) pauses."""
        with self._changed:
            self._locked_step = on
            self._changed.notify_all()

    def wait_out_locked_step(self) -> None:
        """Block while the copier is in a locked step, so it has the CPU to itself and
        the lock is held as briefly as it can be (compressing beside it on two cores
        made the locked compare 3 to 5 times longer); not if the copier failed."""
        with self._changed:
            while self._locked_step and self._error is None:
                self._changed.wait()

    def advanced(self, copied: int) -> None:
        with self._changed:
            self._copied = copied
            self._changed.notify_all()

    def failed(self, error: BaseException) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    def stop(self) -> None:
        """The follower gave up: the copier stops at its next piece, and whoever waits
        for more of the copy is told it will not come."""
        with self._changed:
            self._stopped = True
            if self._error is None:
                self._error = OSError("the copy into scratch was stopped")
            self._changed.notify_all()

    @property
    def stopped(self) -> bool:
        with self._changed:
            return self._stopped

    def wait_for(self, end: int) -> None:
        """Block until the copy holds its first `end` bytes; raise CopyFailed if the
        copier failed (or was stopped) first."""
        with self._changed:
            while self._copied < end and self._error is None:
                self._changed.wait()
            if self._copied < end and self._error is not None:
                raise CopyFailed(self._error)


def copy_frozen(frozen: FrozenWal, out: int, ahead: CopyAhead, cancel: CancelToken) -> None:
    """Copy the frozen database into the new file open as `out` (run in a thread; it
    closes `out`), telling `ahead` as it goes, then end the read transaction (whatever
    happened) and say how long it was held."""
    ahead.held_from = time.time() - (time.monotonic() - frozen.held_since)
    try:
        _copy_pages(frozen, out, ahead, cancel)
    except BaseException as exc:
        ahead.failed(exc)
    finally:
        os.close(out)
        # Read lock 0 released: checkpoints may run. Should SQLite refuse, frozen_wal
        # rolls back again when its block ends.
        with contextlib.suppress(sqlite3.Error):
            frozen.conn.execute("rollback")
        ahead.held_seconds = time.monotonic() - frozen.held_since


def _copy_pages(frozen: FrozenWal, out: int, ahead: CopyAhead, cancel: CancelToken) -> None:
    first = os.pread(frozen.fd, frozen.page_size, 0)
    if len(first) < frozen.page_size:
        raise OSError(f"the database file ends inside page 1 ({len(first)} bytes)")
    _write_all(out, standalone_header(first), 0)
    offset, size, in_kernel = frozen.page_size, frozen.db_size, hasattr(os, "copy_file_range")
    ahead.advanced(offset)
    while offset < size:
        cancel.check()
        if ahead.stopped:
            return
        want = min(_PIECE, size - offset)
        if in_kernel:
            try:
                _copy_in_kernel(frozen.fd, out, offset, want)
            except OSError as exc:
                if exc.errno not in _NOT_HERE:
                    raise
                in_kernel = False
                continue
        else:
            _copy_through(frozen.fd, out, offset, want)
        offset += want
        ahead.advanced(offset)


def _copy_in_kernel(src: int, out: int, offset: int, want: int) -> None:
    done = 0
    while done < want:
        moved = os.copy_file_range(src, out, want - done, offset + done, offset + done)
        if moved == 0:
            raise OSError(f"{want - done} bytes missing at {offset + done}")
        done += moved


def _copy_through(src: int, out: int, offset: int, want: int) -> None:
    done = 0
    while done < want:
        piece = os.pread(src, want - done, offset + done)
        if not piece:
            raise OSError(f"{want - done} bytes missing at {offset + done}")
        _write_all(out, memoryview(piece), offset + done)
        done += len(piece)


def _write_all(out: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(out, view, offset)
        view, offset = view[written:], offset + written


def following_frames(path: Path, ahead: CopyAhead, frame_plain: int) -> Iterator[bytes]:
    """The copy `path` in pieces of `frame_plain` bytes, each read as soon as the copier
    has written it (and again from the start when called again, the copy then whole)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        offset = 0
        while offset < ahead.size:
            want = min(frame_plain, ahead.size - offset)
            ahead.wait_for(offset + want)
            piece = os.pread(fd, want, offset)
            while len(piece) < want:
                more = os.pread(fd, want - len(piece), offset + len(piece))
                if not more:
                    raise OSError(f"{want - len(piece)} bytes missing at {offset + len(piece)}")
                piece += more
            yield piece
            offset += want
    finally:
        os.close(fd)
