"""In place without rewriting every page: the verified copy renamed over a WAL database
that no other connection has open.

SQLite's backup API (core/restore.py) writes every page through the target's WAL and
then checkpoints it into the file: on 1 GiB, ~3 s of CPU and 2 GiB written. Its one
advantage over a rename is for programs that have the database open: they read the new
content on their next transaction. Where it is proven that no program has it open, a
rename gives the same result (entirely old or entirely new at any kill, the file's
identity kept) at the cost of one fsync.

When it is proven (else nothing is changed and the caller uses the backup API):
- the target is a WAL database (a connection to a WAL database keeps a shared lock on
  the file for as long as it is open, once it has read it; a rollback-journal database
  has no such lock: idle connections to it cannot be seen) with a single name (a hard
  link elsewhere would keep the old content under that name);
- our connection switches it to exclusive locking and to the rollback journal: SQLite
  does that only when no other connection has it open, and folds the WAL into the file
  first. From then on our connection holds the file's exclusive lock.

Then the verified copy (a work file beside the target) gets the target's owner, group,
mode and extended attributes and WAL mode, is fsynced and renamed over the target
(restore.publish_over), and our connection closes. A program that opened the old file
just before the rename, but had not read it yet, waits on our lock and then finds the old
file as a rollback-journal database no longer in the folder: it reads the old content,
whole, and SQLite refuses its writes (SQLITE_READONLY_DBMOVED); it never reaches the new
file's -wal. A kill -9 before the rename leaves the old content whole, in rollback-journal
mode (the application's next `pragma journal_mode=wal`, or a retried restore, puts WAL
back); after it, the new content.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from lifeboat.core.file_identity import give_identity, identity_of
from lifeboat.core.fsutil import free_bytes
from lifeboat.core.sqlite_file import file_uri

_HEADER = 100
_WAL_VERSIONS = b"\x02\x02"  # header bytes 18-19: file format versions, 2 = WAL
#: room left beside the target after the copy is written
_SPACE_MARGIN = 64 << 20
#: how long another program's brief lock may keep us from proving it has no connection
_LOCK_WAIT = 0.5


def swap_possible(target: Path, size: int) -> bool:
    """Whether an in-place restore of a database of `size` bytes may write its verified
    copy beside `target` to rename it over it: a WAL database with one name, on a system
    where a file can be renamed over an open one, with room for the copy beside it."""
    if sys.platform == "win32":
        return False
    try:
        info = os.lstat(target)
        with open(target, "rb") as fh:
            header = fh.read(_HEADER)
    except OSError:
        return False
    return (
        info.st_nlink == 1
        and len(header) == _HEADER
        and header[18:20] == _WAL_VERSIONS
        and free_bytes(target.parent) >= size + _SPACE_MARGIN
    )


@contextlib.contextmanager
def held_alone(target: Path) -> Iterator[bool]:
    """Whether no other connection has the WAL database `target` open (proven as the
    module says); while True, our connection holds it exclusively, in rollback-journal
    mode. The block renames the new file over it (prepare_swap first); if the block
    raises, the old file goes back to WAL mode. Our connection closes at the end.

    While held, nothing in this process may open and close the target itself: closing
    any descriptor of a file drops every POSIX lock the process holds on it (ours too).
    Its identity is read by path (lstat, listxattr), never through a descriptor."""
    conn = _alone_with(target)
    if conn is None:
        yield False
        return
    try:
        yield True
    except BaseException:
        _back_to_wal(conn)
        raise
    finally:
        conn.close()  # releases the old file's lock (renamed over, it is no longer named)


def prepare_swap(verified: Path, target: Path) -> None:
    """Give the verified copy the target's identity (owner, group, mode, extended
    attributes; OperationFailed if the owner cannot be kept) and WAL mode, and fsync it."""
    identity = identity_of(target)
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(verified, flags)
    try:
        # The target was a WAL database; the copy (as snapshots keep it) is not yet.
        # These two header bytes are what SQLite itself sets for WAL mode.
        os.pwrite(fd, _WAL_VERSIONS, 18)
        give_identity(fd, target, identity)
        os.fsync(fd)
    finally:
        os.close(fd)


def _alone_with(target: Path) -> sqlite3.Connection | None:
    """A connection holding `target` exclusively, switched to the rollback journal (its
    WAL folded in first); None if another connection has it open."""
    try:
        conn = sqlite3.connect(
            file_uri(target, mode="rw"), uri=True, isolation_level=None, timeout=_LOCK_WAIT
        )
    except sqlite3.Error:
        return None
    try:
        conn.execute("pragma locking_mode=exclusive").fetchone()
        mode = str(conn.execute("pragma journal_mode=delete").fetchone()[0]).lower()
        if mode == "delete":
            # Its lock shuts every other connection out; it stays open until we close
            # (nothing is written in it: closing rolls nothing back, leaves no journal).
            conn.execute("begin exclusive")
            return conn
    except sqlite3.Error:
        pass
    _back_to_wal(conn)
    conn.close()
    return None


def _back_to_wal(conn: sqlite3.Connection) -> None:
    """Undo our switch to the rollback journal (the restore did not happen)."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("rollback")  # the mode cannot change inside a transaction
        conn.execute("pragma journal_mode=wal").fetchone()
