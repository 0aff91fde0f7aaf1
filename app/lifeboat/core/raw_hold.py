"""A live database's files held still while their raw copy is taken (core/rawcopy.py),
and the proof afterwards that the copy is one state of them.

The app that uses the database may be running. As its last connection closes, SQLite
checkpoints the -wal into the database file and deletes the -wal (wal.c,
sqlite3WalClose); while the app runs, a checkpoint may write the database file at any
moment. A copy of the file, then of its -wal, could then fail (the -wal gone) or hold
half of each. So, for the copy, two locks of our own, as SQLite's unix VFS places them:

- a SHARED lock on the database file (a read lock on its shared byte range): a closing
  last connection checkpoints and deletes the -wal only if it gets an EXCLUSIVE lock,
  and leaves both files as they are otherwise; a rollback-journal writer cannot write
  the file at all (it needs EXCLUSIVE);
- WAL read lock 0 (a read lock on its byte in the -shm): every checkpoint takes it
  exclusively while it writes the database file (wal.c, walCheckpoint).

They are open file description locks (Linux): owned by the descriptor, not the process,
so they neither merge with nor release the SQLite locks other connections of this process
hold. The descriptors are kept ones (core/kept_descriptors), never closed: on POSIX,
closing any descriptor of a file drops every POSIX lock this process holds on it.

Held still, the database file cannot change; the -wal can only grow (frames appended; a
commit marks them in the wal-index header) or restart (its header changes; only once
all its frames are in the database file). So the copy is of one state when, after it,
the database file, the -wal's header, the wal-index header and the rollback journal are
as they were before it (`Stamps`); without a -shm (no connection uses the -wal) the -wal
must not have changed at all. Where these locks do not exist (not Linux) the stamps
alone decide.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.kept_descriptors import pinned, unpin

if sys.platform != "win32":
    import fcntl
if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: SQLite's lock bytes (os.h): PENDING_BYTE, then RESERVED, then the shared range
_SHARED_FIRST = 0x40000000 + 2
_SHARED_SIZE = 510
#: unix VFS -shm locks start at byte 120 (UNIX_SHM_BASE); WAL read lock 0 is lock 3
_READ_LOCK_0 = 120 + 3
_READ, _UNLOCK = 0, 2  # F_RDLCK, F_UNLCK on Linux
_WAL_HEADER = 32
_INDEX_HEADERS = 96  # the wal-index header, kept twice
#: Linux only (open file description locks); elsewhere the stamps alone decide
_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None) if sys.platform != "win32" else None
_FLOCK = struct.Struct("hhqqi4x")  # Linux struct flock: type, whence, start, len, pid


@dataclass(frozen=True)
class FileStamp:
    identity: tuple[int, int, int, int]  # inode, device, size, modification time (ns)
    head: bytes  # the first bytes that say what it holds (the -wal's header)


@dataclass(frozen=True)
class Stamps:
    """What decides whether the database's files changed (see the module docstring)."""

    database: FileStamp | None
    wal: FileStamp | None
    journal: FileStamp | None
    wal_index: bytes | None  # the -shm's wal-index header; None without a -shm

    def same_state(self, after: Stamps) -> bool:
        if (self.database, self.journal, self.wal_index) != (
            after.database,
            after.journal,
            after.wal_index,
        ):
            return False
        if self.wal is None or after.wal is None or self.wal_index is None:
            return self.wal == after.wal
        # frames appended but not committed (or torn by the copy) are not a state
        return self.wal.head == after.wal.head and self.wal.identity[:2] == after.wal.identity[:2]


@dataclass(frozen=True)
class HeldFiles:
    """The database file's kept descriptor (read it with os.pread only) and whether
    this process holds the locks above."""

    database_fd: int
    locked: bool


def read_at(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: a kept descriptor nobody else reads
    return os.read(fd, size)


class KeptReader(io.RawIOBase):
    """A kept descriptor read from its start by position (os.pread): its shared offset
    is not moved, and closing this reader does not close the descriptor."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = read_at(self._fd, len(view), self._at)
        view[: len(data)] = data
        self._at += len(data)
        return len(data)


def stamp(path: Path, head: int = 0) -> FileStamp | None:
    try:
        with open(path, "rb") as fh:  # never the database file or -shm: see the docstring
            info = os.fstat(fh.fileno())
            first = fh.read(head) if head else b""
    except FileNotFoundError:
        return None
    return FileStamp((info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns), first)


def stamps(target: Path, database_fd: int) -> Stamps:
    info = os.fstat(database_fd)
    now = os.stat(target)
    if (now.st_ino, now.st_dev) != (info.st_ino, info.st_dev):
        database = None  # the path names another file now: never the same state
    else:
        database = FileStamp((info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns), b"")
    return Stamps(
        database,
        stamp(Path(f"{target}-wal"), _WAL_HEADER),
        stamp(Path(f"{target}-journal")),
        _wal_index_header(Path(f"{target}-shm")),
    )


def _wal_index_header(shm: Path) -> bytes | None:
    if not shm.exists():
        return None
    fd, _ = pinned(shm)
    try:
        return read_at(fd, _INDEX_HEADERS, 0)
    finally:
        unpin(fd)


@contextmanager
def held_still(target: Path, wait_s: float) -> Iterator[HeldFiles]:
    """`target` with the locks above held for the block (`locked` False where they do
    not exist, or could not be had within `wait_s` seconds: a writer or a checkpoint
    held on; the stamps then decide alone)."""
    fd, _ = pinned(target)
    shm = Path(f"{target}-shm")
    shm_fd = pinned(shm)[0] if shm.exists() else None
    locks: list[tuple[int, int, int]] = []
    try:
        wanted = [(fd, _SHARED_FIRST, _SHARED_SIZE)]
        if shm_fd is not None:
            wanted.append((shm_fd, _READ_LOCK_0, 1))
        deadline = time.monotonic() + wait_s
        for where in wanted if _OFD_SETLK is not None else []:
            if not _read_lock(*where, deadline):
                break
            locks.append(where)
        yield HeldFiles(fd, locked=len(locks) == len(wanted))
    finally:
        for where in reversed(locks):
            _set_lock(*where, _UNLOCK)
        if shm_fd is not None:
            unpin(shm_fd)
        unpin(fd)


def _read_lock(fd: int, start: int, length: int, deadline: float) -> bool:
    """A read lock on the byte range, waited for until `deadline` (briefly, as SQLite's
    own busy handler does: a checkpoint or commit holding it ends soon)."""
    pause = 0.001
    while True:
        try:
            _set_lock(fd, start, length, _READ)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _set_lock(fd: int, start: int, length: int, kind: int) -> None:
    assert _OFD_SETLK is not None
    # an open file description lock must be asked for with pid 0
    fcntl.fcntl(fd, _OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
