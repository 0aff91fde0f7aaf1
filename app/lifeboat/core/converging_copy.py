"""A rollback-journal database copied while its writers go on: the converging copy.

A reader of a rollback-journal database blocks its writers for as long as it holds
SQLite's shared lock, so a copy made under that lock stalls the application for the whole
copy (seconds for a large file). Instead:

1. the file is copied without any lock, chunk by chunk, keeping each chunk's xxh3 hash
   of what was copied (a commit meanwhile may leave some chunks torn or stale);
2. while chunks keep changing, the file is compared again without a lock: each chunk is
   hashed and only those that differ are copied again (the header's change counter,
   bumped by every commit, says when a pass saw no commit at all);
3. last, under SQLite's shared lock (writers wait), every chunk of the live file is
   hashed once more and the few that still differ are copied. Nothing can write the file
   while the lock is held, so at the end the copy equals the file chunk by chunk: one
   committed state. That pass only reads and hashes (no copy unless a chunk changed), the
   only time a writer waits. On a busy machine the hashing can take long: all but the
   last attempt give up past a budget (locked_budget), let the writers in, and an
   unlocked pass catches up before the next attempt.

The last compare can be skipped only when it is proven that nothing wrote the file while
the pass before it read it. The change counter alone proves nothing: a writer's
transaction can write pages into the file and roll them back (a cache spill), and a
writer killed mid-commit leaves a hot journal that the next reader rolls back, both
leaving the counter as it was while the pass may have read pages in between. So each
pass is bracketed by two stamps read under the shared lock (core/file_stamp.py): the
counter, the size, and the file's modification and status-change times, which every
write (a rollback's included) moves on. Equal stamps around a pass, the first one
settled (its times older than the file system's timestamp granularity, so that no later
write can give them again), prove the pass read a file nothing wrote: the copy is then
the committed state both stamps saw, and the writers waited only for reading 100 bytes.
Otherwise (an app committing all the time) the locked compare runs.

The file is read through the descriptor this process keeps for it (core/kept_descriptors):
closing a descriptor of the file would drop the very lock SQLite holds for us.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.chunk_compare import compare_chunks, copy_pass, mapped_chunks, read_chunks
from lifeboat.core.file_stamp import FileStamp
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.mapped_file import mapped
from lifeboat.core.private import create_file
from lifeboat.core.sqlite_file import file_uri, header_page_size
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_HEADER = 100
#: tries of the locked compare: all but the last give up past locked_budget
LOCKED_ATTEMPTS = 5


class SourceTurnedWal(Exception):
    """The database switched to WAL mode while it was copied: copy it as a WAL source."""


@dataclass
class ConvergedCopy:
    """What the converging copy did: the copy's shape, its unlocked passes, and how long
    the shared lock (the writers' wait) was held in its last pass."""

    page_size: int
    page_count: int
    passes: int = 0  # unlocked ones
    recopied_chunks: int = 0  # by the unlocked passes after the first
    locked_chunks: int = 0  # copied under the lock
    locked_attempts: int = 0  # of the locked compare (all but the last may give up)
    locked_seconds: float = 0.0
    locked_at: float = 0.0  # when the lock for the last pass or proof was asked (wall clock)
    #: the last pass was proven to have read a file nothing wrote: no locked compare
    proven_unchanged: bool = False
    #: (wall clock, seconds) of every attempt of the locked compare: the writers' waits
    holds: list[tuple[float, float]] = field(default_factory=list)
    _hashes: list[bytes] = field(default_factory=list, repr=False)


def converging_copy(
    source: Path,
    identity: tuple[int, int],
    lock: sqlite3.Connection,
    dest: Path,
    *,
    max_passes: int,
    progress: Progress,
    cancel: CancelToken,
) -> ConvergedCopy:
    """Copy the rollback-journal database `source` into the new file `dest`; `lock` is an
    open connection to it whose read transactions give the shared lock, opened while
    `source` named the file `identity` (st_dev, st_ino): the one copied, or none."""
    fd, kept = pinned(source)
    if kept != identity:
        unpin(fd)
        raise OperationFailed(
            f"{source} was replaced by another file while it was copied", "retry the backup"
        )
    out = create_file(dest)
    try:
        with _shared_lock(lock, source):
            before = _stamp(fd, source)
        result = ConvergedCopy(0, 0)
        copy_pass(fd, out, result._hashes, progress, cancel)
        result.passes = 1
        while True:
            after = _unchanged_or_stamp(fd, out, lock, source, before, result)
            if after is None:
                return result  # proven: nothing wrote the file while the last pass read it
            if result.passes >= max_passes:
                after = _locked_pass(fd, out, lock, source, result, cancel)
                if after is None:
                    return result
                # over its time: writers got in; catch up without the lock, then again
            before = after
            result.recopied_chunks += copy_pass(fd, out, result._hashes, no_progress, cancel)
            result.passes += 1
    finally:
        os.close(out)
        unpin(fd)


def _unchanged_or_stamp(
    fd: int,
    out: int,
    lock: sqlite3.Connection,
    source: Path,
    before: FileStamp,
    result: ConvergedCopy,
) -> FileStamp | None:
    """Under the shared lock, the file's stamp now; or None, the copy finished, when it
    proves nothing wrote the file since `before` (the copy read it all in between)."""
    with _shared_lock(lock, source):
        at, started = time.time(), time.monotonic()
        after = _stamp(fd, source)
        if not after.unchanged_since(before):
            return after
        _, result.page_size, result.page_count = _header_state(fd, source)
        os.ftruncate(out, result.page_size * result.page_count)
        result.locked_at, result.locked_seconds = at, time.monotonic() - started
        result.proven_unchanged = True
        return None


def _stamp(fd: int, source: Path) -> FileStamp:
    """The file's stamp (core/file_stamp.py), read under the shared lock."""
    counter, _, _ = _header_state(fd, source)
    return FileStamp.of(counter, fd)


def _locked_pass(
    fd: int,
    out: int,
    lock: sqlite3.Connection,
    source: Path,
    result: ConvergedCopy,
    cancel: CancelToken,
) -> FileStamp | None:
    """The last compare, under the shared lock: through a mapping of the file made (and
    read ahead) before the lock is taken, so the writers' wait is only the hashing. A
    busy machine can make that slow: all but the last attempt give up past a time a
    compare of this size takes (the writers get in), returning the stamp the file had
    under the lock, so that an unlocked pass catches up and the compare is tried again."""
    result.locked_attempts += 1
    final = result.locked_attempts >= LOCKED_ATTEMPTS
    with mapped(fd, os.fstat(fd).st_size) as before, _shared_lock(lock, source):
        at, started = time.time(), time.monotonic()
        stamp = _stamp(fd, source)
        deadline = None if final else started + locked_budget(stamp.size)
        try:
            _compare_locked(fd, out, before, source, result, cancel, deadline)
            done = True
        except _OverBudget:
            done = False
        held = time.monotonic() - started
        result.holds.append((at, held))
        if held >= result.locked_seconds:  # the longest the writers waited
            result.locked_at, result.locked_seconds = at, held
        return None if done else stamp


def locked_budget(size: int) -> float:
    """How long an attempt of the locked compare may hold the lock before it gives up:
    about three times what hashing `size` bytes from memory takes on one core, so that
    SQLite's busy handler (it sleeps up to 100 ms between tries) wakes a writer by
    250 ms for a 1 GiB database."""
    return 0.15 + size / (32 << 30)


class _OverBudget(Exception):
    """The locked compare ran past its time (a busy machine): let the writers in."""


def _compare_locked(
    fd: int,
    out: int,
    before: memoryview | None,
    source: Path,
    result: ConvergedCopy,
    cancel: CancelToken,
    deadline: float | None,
) -> None:
    """Under the shared lock: every chunk of the file compared with the copy's."""
    _, result.page_size, result.page_count = _header_state(fd, source)
    size = os.fstat(fd).st_size  # nothing can change it while the lock is held
    if before is not None and size <= len(before):
        chunks = mapped_chunks(before, size)
    else:  # no mapping here, or the file grew since it was mapped: read it
        chunks = read_chunks(fd)
    if deadline is not None:
        chunks = _until(chunks, deadline)
    result.locked_chunks = compare_chunks(chunks, out, result._hashes, no_progress, cancel)
    os.ftruncate(out, result.page_size * result.page_count)


@contextmanager
def _shared_lock(conn: sqlite3.Connection, source: Path) -> Iterator[None]:
    """SQLite's shared lock on the database, for the duration (a read transaction; a hot
    journal left by a crashed writer is rolled back by SQLite before it is granted)."""
    try:
        conn.execute("begin")
        conn.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("rollback")
        if "readonly" not in str(exc):
            raise
        _roll_back_hot_journal(source)
        conn.execute("begin")
        conn.execute("select count(*) from sqlite_master").fetchone()
    try:
        yield
    finally:
        conn.execute("rollback")


def _roll_back_hot_journal(source: Path) -> None:
    """A writer died mid-commit while the copy ran, and the connection, read-only, cannot
    roll back the journal it left (SQLITE_READONLY_ROLLBACK): a read-write one does, as
    any SQLite client opening the file would (core/sqlite_file.open_source does the same).
    Closing it keeps this process's locks: SQLite defers closing a file others lock."""
    conn = sqlite3.connect(file_uri(source, mode="rw"), uri=True, timeout=30, isolation_level=None)
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
    finally:
        conn.close()


def _header_state(fd: int, source: Path) -> tuple[bytes, int, int]:
    """The change counter, page size and page count the header says (read under the
    shared lock); raises when the file is no longer the one `source` names, or is WAL."""
    header = os.pread(fd, _HEADER, 0)
    kept, named = os.fstat(fd), os.stat(source)
    if (kept.st_dev, kept.st_ino) != (named.st_dev, named.st_ino):
        raise OperationFailed(
            f"{source} was replaced by another file while it was copied", "retry the backup"
        )
    if len(header) < _HEADER:
        raise OperationFailed(f"{source} was truncated while it was copied", "retry the backup")
    if header[18] == 2 and header[19] == 2:
        raise SourceTurnedWal(str(source))
    page_size = header_page_size(header)
    in_header = int.from_bytes(header[28:32], "big")
    # The header's page count is valid only when its change counter matches the
    # version-valid-for number (fileformat.html 1.3.7); else the file's size says it.
    valid = in_header > 0 and header[24:28] == header[92:96]
    page_count = in_header if valid else kept.st_size // page_size
    return header[24:28], page_size, page_count


def _until(
    chunks: Iterator[tuple[int, memoryview, int]], deadline: float
) -> Iterator[tuple[int, memoryview, int]]:
    """`chunks`, raising _OverBudget once the clock passes `deadline`."""
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise _OverBudget
        yield chunk
