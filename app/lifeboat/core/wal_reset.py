"""SQLite's WAL-reset bug, and which of Lifeboat's own SQLite work it rules out.

SQLite 3.7.0 through 3.51.2 (fixed in 3.51.3; backported to 3.44.6 and 3.50.7) can lose
part of a committed transaction of a WAL database (sqlite.org/wal.html#walresetbug):
one connection's checkpoint copies the whole WAL back, a second checkpoint starts right
after it, and meanwhile another connection commits a transaction that resets the WAL
(writes it again from its start). The second checkpoint misses the reset and records
frames as copied back that are not; a later checkpoint then skips them. The bug lives
in the code of the second checkpoint: it takes an affected SQLite *running that
checkpoint*, beside a writer on any SQLite. So where Python's sqlite3 module links an
affected SQLite (3.40.1 on Debian 12), Lifeboat:

- keeps its own catalog out of WAL mode (core/catalog_journal.py): the catalog is
  written by several of our processes and threads at once, each commit able to
  checkpoint it;
- never runs a PASSIVE checkpoint (SQLite's automatic one after a commit included) on a
  user's live database it writes (a restore in place, a row merge, the safety snapshot
  before them), where the app may be committing at that moment. A checkpoint run while
  a connection of ours holds the write lock, or the one SQLite runs when the last
  connection closes (under an exclusive lock), cannot meet a concurrent commit and stays
  allowed. A TRUNCATE or FULL checkpoint is not enough by itself: one that finds the
  write lock busy quietly runs as PASSIVE (wal.c, sqlite3WalCheckpoint).

Reads are unaffected: a connection that only reads never checkpoints but on close as
the last connection. What the app's own SQLite does to its database is beyond
Lifeboat; docs/SAFETY.md says what a user should know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lifeboat.core.sqlite_file import file_uri

FIXED_IN = (3, 51, 3)
#: Older release lines that got the fix: (major, minor) -> first fixed patch release.
FIXED_BACKPORTS = {(3, 44): 6, (3, 50): 7}
FIRST_AFFECTED = (3, 7, 0)  # WAL mode itself came in 3.7.0


def has_wal_reset_bug(version: tuple[int, int, int]) -> bool:
    """Whether SQLite `version` (major, minor, patch) has the WAL-reset bug."""
    if not FIRST_AFFECTED <= version < FIXED_IN:
        return False
    backport = FIXED_BACKPORTS.get(version[:2])
    return backport is None or version[2] < backport


#: Whether the SQLite that Python's sqlite3 module links (the one Lifeboat writes
#: databases with) has the bug. A module attribute so that tests can take both paths.
LINKED_HAS_BUG = has_wal_reset_bug(sqlite3.sqlite_version_info)


def passive_checkpoints_allowed() -> bool:
    """Whether Lifeboat may run a PASSIVE checkpoint on a live database (its SQLite is
    not affected)."""
    return not LINKED_HAS_BUG


def without_passive_checkpoints(conn: sqlite3.Connection) -> sqlite3.Connection:
    """`conn` (to a user's live database, which it will write), with SQLite's automatic
    checkpoint after each commit turned off where the linked SQLite has the bug: the
    app's own checkpoints, or the one on the last connection's close, copy the WAL
    back instead."""
    if LINKED_HAS_BUG:
        conn.execute("pragma wal_autocheckpoint=0")
    return conn


@contextmanager
def checkpoint_allowed(path: Path, wait_seconds: float = 1.0) -> Iterator[bool]:
    """Whether a PASSIVE checkpoint of the live WAL database `path` may run in the
    block: at once on a fixed SQLite; on an affected one only while another connection
    of ours holds the write lock for the block (waiting up to `wait_seconds` for the
    app's writer), so that no commit can reset the WAL under it. False: leave the
    frames to the app's own checkpoints."""
    if not LINKED_HAS_BUG:
        yield True
        return
    try:
        holder = sqlite3.connect(
            file_uri(path, mode="rw"), uri=True, isolation_level=None, timeout=wait_seconds
        )
    except sqlite3.Error:
        yield False
        return
    try:
        try:
            holder.execute("begin immediate")
        except sqlite3.Error:
            yield False
            return
        try:
            yield True
        finally:
            holder.execute("rollback")  # it wrote nothing: the lock was for the checkpoint
    finally:
        holder.close()
