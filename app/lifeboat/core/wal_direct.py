"""A WAL database read straight from its file, while SQLite proves the file holds it all.

A copy through SQLite's backup API costs about as much CPU as compressing the copy
again would save; so when the WAL holds nothing the database file lacks, the database
file itself is copied inside one read transaction, at page-cache speed, and the snapshot
is packed and checked from that copy (core/wal_scratch.py: the transaction, which keeps
checkpoints out, ends as soon as the copy is whole).

The proof (wal.c, walTryBeginRead): a read transaction that begins while every frame of
the WAL has been copied back into the database file (`nBackfill == mxFrame` in the
wal-index) takes WAL read lock 0: it reads the database file alone, and while any
connection holds read lock 0 no checkpoint may write to that file. In WAL mode nothing
else writes it (leaving WAL mode needs an exclusive lock). So the wal-index header is
read before and after the read transaction begins: the same header (its change number
`iChange` moves on every update, so equal bytes mean no update between), both copies
agreeing, and `nBackfill == mxFrame` both times prove the transaction took read lock 0.
The database file is then frozen until the transaction ends, and is exactly the state it
reads. Anything else (frames not yet copied back, a -shm this process cannot use) gives
None, and the snapshot is copied as before.

The database file and its -shm are read through descriptors this process keeps
(core/kept_descriptors): closing a descriptor of either would drop SQLite's locks on it,
read lock 0 among them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.sqlite_file import file_uri, open_copy
from lifeboat.core.standins import StandInConnection
from lifeboat.core.wal_frames import WalPages, wal_pages
from lifeboat.core.wal_reset import passive_checkpoints_allowed

_INDEX_HEADER = 48  # WalIndexHdr, kept twice; then WalCkptInfo (nBackfill first)
_MX_FRAME = struct.Struct("=I")  # at offset 16 of the header, in the machine's byte order
_NBACKFILL_AT = 2 * _INDEX_HEADER
#: an app committing every few ms may commit between the checkpoint and the read
#: transaction's start (a window of about a millisecond): a few tries cost little
_CHECKPOINT_TRIES = 4
#: one checkpoint at a time in this process: two at once (a merge's safety snapshot and
#: its changed rows freezing the file side by side) make one of them report busy, and it
#: would give up freezing; after the other's, it finds the frames copied back
_CHECKPOINTING = threading.Lock()


@dataclass(frozen=True)
class FrozenWal:
    """A read transaction (`conn`) begun while every WAL frame was copied back (on WAL
    read lock 0, or, when a checkpointer held that lock, on a mark at mxFrame: either
    way no checkpoint has anything to write), whose database file (`fd`) holds exactly
    what it reads: `page_count` pages of `page_size` bytes. Only
    where its maker asked for them (frozen_wal's `wal_frames`), `wal_pages`: the read
    transaction holds another read lock, and the pages it lists are read from the WAL
    (read_into, page), the others from the file (see core/wal_frames.wal_pages)."""

    conn: StandInConnection
    fd: int
    page_size: int
    page_count: int
    held_since: float  # time.monotonic() when the read transaction began
    #: the wal-index header read inside the transaction (b"": not a WAL file frozen
    #: this way): two freezes with the same bytes read the same state (core/live_pass)
    index_header: bytes = b""
    wal_pages: WalPages | None = None

    @property
    def db_size(self) -> int:
        return self.page_size * self.page_count

    def page(self, number: int) -> bytes:
        """Page `number` (1 up to page_count) of the state read."""
        wal = self.wal_pages
        if wal is not None and number in wal.offsets:
            return _pread_whole(wal.fd, self.page_size, wal.offsets[number])
        return _pread_whole(self.fd, self.page_size, (number - 1) * self.page_size)

    def piece(self, offset: int, want: int) -> bytes:
        """`want` bytes (whole pages, inside the database) of the state from `offset` (a
        page boundary) on."""
        wal, size = self.wal_pages, self.page_size
        if wal is None:
            return _pread_whole(self.fd, want, offset)
        first = offset // size + 1
        last = first + want // size - 1
        numbers = wal.within(first, last)
        # runs of the file between the pages in the WAL, joined once (every page past
        # the file's end is one of those: wal_pages)
        parts, at = [], first
        for number in numbers:
            if number > at:
                parts.append(_pread_whole(self.fd, (number - at) * size, (at - 1) * size))
            parts.append(_pread_whole(wal.fd, size, wal.offsets[number]))
            at = number + 1
        if at <= last:
            parts.append(_pread_whole(self.fd, (last - at + 1) * size, (at - 1) * size))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_into(self, view: memoryview, offset: int) -> None:
        """Fill `view` (whole pages, inside the database) with the state's bytes from
        `offset` (a page boundary) on."""
        size = self.page_size
        wal = self.wal_pages
        if wal is None:
            _read_into(self.fd, view, offset)
            return
        # the file may end before the state's last pages: those are in the WAL
        in_file = max(0, min(len(view), os.fstat(self.fd).st_size - offset))
        _read_into(self.fd, view[:in_file], offset)
        view[in_file:] = bytes(len(view) - in_file)
        first = offset // size + 1
        last = first + len(view) // size - 1
        for number in wal.within(first, last):
            at = (number - first) * size
            _read_into(wal.fd, view[at : at + size], wal.offsets[number])


def _read_into(fd: int, view: memoryview, offset: int) -> None:
    got, want = 0, len(view)
    while got < want:  # a short read before the end: read on
        more = os.preadv(fd, [view[got:]], offset + got)
        if not more:
            raise OSError(f"{want - got} bytes missing at {offset + got}")
        got += more


def _pread_whole(fd: int, want: int, offset: int) -> bytes:
    piece = os.pread(fd, want, offset)
    while len(piece) < want:  # a short read before the end: read on
        more = os.pread(fd, want - len(piece), offset + len(piece))
        if not more:
            raise OSError(f"{want - len(piece)} bytes missing at {offset + len(piece)}")
        piece += more
    return piece


@contextmanager
def frozen_wal(
    path: Path,
    busy_timeout: float,
    *,
    checkpoint: bool = False,
    writes_held: bool = False,
    wal_frames: bool = False,
) -> Iterator[FrozenWal | None]:
    """The WAL database `path` frozen as above for the block, or None when that cannot
    be proven now (then copy it the usual way). `checkpoint`: when frames are not yet
    copied back, copy them with a PASSIVE checkpoint and try again (see
    _checkpoint_passive: only where Lifeboat is about to write the database anyway).
    `writes_held`: another connection of this process holds the database's write lock
    for the block, so no commit can meet the checkpoint (core/wal_reset.py).
    `wal_frames`: frames not yet copied back are read where they are instead
    (FrozenWal.wal_pages: only for a reader that reads pages through FrozenWal)."""
    if not hasattr(os, "pread"):  # (Windows) the usual copy
        yield None
        return
    try:
        named = os.stat(path)
        conn = open_copy(path)
    except (OSError, sqlite3.Error):
        yield None
        return
    pins: list[int] = []
    try:
        try:
            frozen = _freeze(conn, path, busy_timeout, pins, wal_frames)
            for _ in range(_CHECKPOINT_TRIES if checkpoint else 0):
                if frozen is not None or not _checkpoint_passive(
                    conn, path, busy_timeout, writes_held
                ):
                    break
                frozen = _freeze(conn, path, busy_timeout, pins, wal_frames)
            if frozen is not None and not _same_file(named, os.fstat(frozen.fd), path):
                frozen = None  # the path was made to name another file meanwhile
        except (OSError, sqlite3.Error):
            frozen = None  # whatever it was, the usual copy will meet it and say so
        yield frozen
    finally:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("rollback")
        conn.close()
        for fd in pins:  # after the connection: its locks no longer matter
            unpin(fd)


def looks_backfilled(path: Path) -> bool:
    """Whether the wal-index of the WAL database `path` says, now and without any lock,
    that every frame is copied back (a hint: frozen_wal proves it). No -shm: no
    connection has it open, so the last one to close copied the WAL back (or recovery
    will tell frozen_wal otherwise)."""
    shm = Path(f"{path}-shm")
    try:
        fd, _ = pinned(shm)  # never closed here: SQLite's locks on it stay
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        return _backfilled(os.pread(fd, _NBACKFILL_AT + 4, 0))
    except OSError:
        return False
    finally:
        unpin(fd)


def _freeze(
    conn: StandInConnection, path: Path, busy_timeout: float, pins: list[int], wal_frames: bool
) -> FrozenWal | None:
    """Begin the read transaction on `conn` and prove it holds read lock 0 (see above),
    or, given `wal_frames`, that it reads the frames it is shown (_wal_pages)."""
    conn.execute(f"pragma busy_timeout={int(busy_timeout * 1000)}")
    if str(conn.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
        return None
    shm = Path(f"{path}-shm")
    if not (shm.is_file() and os.access(shm, os.R_OK | os.W_OK)):
        return None  # a read-only -shm: SQLite reads the WAL another way
    shm_fd = _pin(shm, pins)
    before = os.pread(shm_fd, _NBACKFILL_AT + 4, 0)
    held_since = time.monotonic()
    conn.execute("begin")
    conn.execute("select count(*) from sqlite_master").fetchone()
    after = os.pread(shm_fd, _NBACKFILL_AT + 4, 0)
    if before != after or _settled(after) is None:
        return None
    backfilled = _backfilled(after)
    if not (backfilled or wal_frames):
        return None
    page_size = int(conn.execute("pragma page_size").fetchone()[0])
    page_count = int(conn.execute("pragma page_count").fetchone()[0])
    fd = _pin(path, pins)
    header = after[:_INDEX_HEADER]
    if backfilled:
        if os.fstat(fd).st_size < page_size * page_count:
            return None  # not what a fully copied-back WAL leaves: take no chances
        return FrozenWal(conn, fd, page_size, page_count, held_since, header)
    wal = wal_pages(path, fd, header, page_size, page_count, pins)
    if wal is None:
        return None
    return FrozenWal(conn, fd, page_size, page_count, held_since, header, wal)


def _checkpoint_passive(
    conn: StandInConnection, path: Path, busy_timeout: float, writes_held: bool
) -> bool:
    """End `conn`'s read transaction and copy the WAL's frames back into the database
    file with a PASSIVE checkpoint (it never waits for the app's readers or writers, and
    leaves the frames a reader still needs): True if it ran. The safety snapshot of a
    restore or merge asks for it (Lifeboat is about to write the database itself), so
    that it is read straight from the file instead of copied page by page; a backup
    never checkpoints the app's database. Through SQLite only: this process's other
    connections to the file (the merge's, holding its write lock) keep their locks when
    this one closes (one library: SQLite keeps the descriptor until they end). Never
    where Lifeboat's SQLite has the WAL-reset bug (core/wal_reset.py) and the app may be
    committing meanwhile (the usual copy is as safe); allowed there while this process
    holds the write lock (`writes_held`): no commit can reset the WAL under it."""
    if not (passive_checkpoints_allowed() or writes_held):
        return False
    if conn.in_transaction:
        conn.execute("rollback")
    if str(conn.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
        return False  # a rollback-journal database: nothing to copy back
    with _CHECKPOINTING:
        return _checkpoint(path, busy_timeout)


def _checkpoint(path: Path, busy_timeout: float) -> bool:
    try:
        writer = sqlite3.connect(
            file_uri(path, mode="rw"), uri=True, isolation_level=None, timeout=busy_timeout
        )
    except sqlite3.Error:
        return False
    try:
        busy, _, _ = writer.execute("pragma wal_checkpoint(passive)").fetchone()
        return not busy
    except sqlite3.Error:
        return False
    finally:
        writer.close()


def _same_file(before: os.stat_result, kept: os.stat_result, path: Path) -> bool:
    """Whether `path` named the file read through `kept` from before the connection was
    opened (`before`) until now: then the connection reads that file too."""
    now = os.stat(path)
    return (before.st_dev, before.st_ino) == (kept.st_dev, kept.st_ino) == (now.st_dev, now.st_ino)


def _pin(path: Path, pins: list[int]) -> int:
    fd, _ = pinned(path)
    pins.append(fd)
    return fd


def _settled(index: bytes) -> bytes | None:
    """The header of a read of the wal-index start, if settled (both copies equal,
    initialised)."""
    if len(index) < _NBACKFILL_AT + 4:
        return None
    header = index[:_INDEX_HEADER]
    if header != index[_INDEX_HEADER : 2 * _INDEX_HEADER] or header[12] != 1:
        return None
    return header


def _backfilled(index: bytes) -> bool:
    """Whether a read of the wal-index start shows a settled header (both copies equal,
    initialised) whose every frame is copied back into the database file."""
    header = _settled(index)
    if header is None:
        return False
    (mx_frame,) = _MX_FRAME.unpack_from(header, 16)
    (backfilled,) = _MX_FRAME.unpack_from(index, _NBACKFILL_AT)
    return bool(mx_frame == backfilled)


def standalone_header(page: bytes) -> bytes:
    """Page 1 of a database as the copy the backup API makes of it says (core/dbcopy.py),
    byte for byte, so a snapshot's content digest and page hashes do not depend on how it
    was taken (an unchanged database is not stored again, a differential holds only what
    changed): a rollback-journal database (bytes 18-19: no -wal or -shm needed); the new
    file's change counter and its copy (24, 92: two commits), schema cookie (40: one
    schema change) and the writing SQLite's version (96). tests/core/test_wal_direct.py
    holds this to the backup API's copies."""
    one, two = (1).to_bytes(4, "big"), (2).to_bytes(4, "big")
    major, minor, patch = sqlite3.sqlite_version_info
    version = (major * 1_000_000 + minor * 1_000 + patch).to_bytes(4, "big")
    return (
        page[:18]
        + b"\x01\x01"
        + page[20:24]
        + two
        + page[28:40]
        + one
        + page[44:92]
        + two
        + version
        + page[100:]
    )


def frames_of(frozen: FrozenWal, frame_plain: int) -> Iterator[bytes]:
    """The frozen database file's pages in pieces of `frame_plain` bytes (a whole number
    of pages), page 1's header as a standalone copy's (standalone_header)."""
    size = frozen.db_size
    offset = 0
    while offset < size:
        want = min(frame_plain, size - offset)
        piece = frozen.piece(offset, want)
        if offset == 0:
            piece = standalone_header(piece)
        yield piece
        offset += want
