"""The catalog's journal mode: WAL, or a rollback journal where SQLite has the WAL-reset
bug (core/wal_reset.py).

The catalog is written by several of our processes at once (the tray's or `lifeboat
run`'s threads, each command), each commit on a connection of its own that may
checkpoint it after committing: the pattern the bug needs. With a rollback journal
(DELETE, SQLite's default) there is no WAL to reset; every transaction of ours is short
(catalog_file.py), so a reader holding a writer up a moment costs nothing a user sees.

A new catalog is made in the mode wanted. An existing one in the other mode is switched
when a process opens it while no other connection has it open (SQLite needs that: a
catalog in use answers "busy" at once, and keeps its mode until a later start, usually
the tray's at login, finds it alone). A catalog made on a fixed SQLite goes back to
WAL the same way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lifeboat.core import wal_reset

log = logging.getLogger(__name__)

WAL, DELETE = "wal", "delete"
#: the database header's bytes 18 and 19 (file format write and read versions): 1 for a
#: rollback journal, 2 for WAL
_FORMAT_BYTES = slice(18, 20)


def wanted_mode() -> str:
    return DELETE if wal_reset.LINKED_HAS_BUG else WAL


def mode_on_file(path: Path) -> str | None:
    """The journal mode `path`'s header says (read as plain bytes: no connection, no
    lock), or None when it says nothing yet (empty, not a database)."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None
    versions = header[_FORMAT_BYTES]
    if versions == b"\x02\x02":
        return WAL
    if versions == b"\x01\x01":
        return DELETE
    return None


def settle_mode(path: Path, connect_alone: Callable[[], sqlite3.Connection]) -> str | None:
    """Switch the catalog at `path` to the wanted journal mode if it is in the other
    one and nobody else has it open; returns the mode it is in (None: unknown).
    `connect_alone`: a connection that does not wait for others (busy timeout 0)."""
    wanted, now = wanted_mode(), mode_on_file(path)
    if now is None or now == wanted:
        return now
    try:
        db = connect_alone()
    except sqlite3.Error:
        return now
    try:
        now = str(db.execute(f"pragma journal_mode={wanted}").fetchone()[0]).lower()
    except sqlite3.Error as exc:  # in use (busy), a full disk, a read-only folder
        log.debug("catalog %s stays in journal mode %s for now: %s", path, now, exc)
        return now
    finally:
        db.close()
    if now == wanted:
        log.info("catalog %s: journal mode now %s (SQLite %s)", path, now, sqlite3.sqlite_version)
    return now
