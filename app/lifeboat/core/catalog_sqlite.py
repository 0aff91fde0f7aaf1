"""How the catalog meets SQLite: transactions that read on a full disk, and what SQLite's
errors mean for the user (a full disk is a full disk; only a file SQLite proves is no
database, or damaged, is "unreadable")."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lifeboat.foundation.errors import LifeboatError, OperationFailed

#: An I/O error counts as a full disk when less than this is free: SQLite's -shm index
#: alone grows in 32 KiB steps, a write needs a few pages.
NEARLY_FULL = 1 << 20
#: Errors after which a read may still succeed with the -shm index kept in memory.
SHM_TROUBLE = (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN)


class CatalogFull(OperationFailed):
    """The disk holding the catalog has no room for a write (or for SQLite's index)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the disk holding the catalog ({path}) is full, so Lifeboat "
            "cannot record anything there",
            "free some space there, then retry",
        )
        self.path = path


def catalog_problem(path: Path, exc: sqlite3.Error, *, writing: bool) -> LifeboatError | None:
    """What a SQLite error on the catalog at `path` means, or None for a bug (an error a
    user cannot cause: keep its traceback)."""
    code = sqlite_code(exc)
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return LifeboatError(
            f"the catalog {path} is unreadable: {exc}",
            "move it aside and run `lifeboat catalog rebuild`",
        )
    if code == sqlite3.SQLITE_FULL or (
        code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) and nearly_full(path.parent)
    ):
        return CatalogFull(path)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return OperationFailed(
            f"the catalog {path} stayed locked by another Lifeboat process", "try again in a moment"
        )
    if code in (
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_AUTH,
    ):
        return OperationFailed(
            f"cannot {'write to' if writing else 'read'} the catalog {path}: {exc}",
            "check that its folder is writable and its disk is healthy",
        )
    return None


def read_connection(connect: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
    """A connection (from `connect`) inside an open read transaction.

    In WAL mode a connection first maps the 32 KiB -shm index, which takes free space:
    on a full disk that fails. Then the catalog is read in SQLite's exclusive locking
    mode, which keeps that index in memory (waiting, like any connection, while another
    process is using the catalog). If that fails too, the first error is raised."""
    db = connect()
    try:
        begin_read(db)
        return db
    except sqlite3.Error as exc:
        rollback(db)
        db.close()
        if sqlite_code(exc) not in SHM_TROUBLE:
            raise
        first = exc
    db = connect()
    try:
        db.execute("pragma locking_mode=exclusive")
        begin_read(db)
        return db
    except sqlite3.Error:
        rollback(db)
        db.close()
        raise first from None


def nearly_full(folder: Path) -> bool:
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows: SQLite says SQLITE_FULL there
        return False
    # root may use the blocks reserved for it, everybody else only the available ones
    blocks = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    return blocks * info.f_frsize < NEARLY_FULL


def sqlite_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (the low byte of the extended one)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def begin_read(db: sqlite3.Connection) -> None:
    """Open a read transaction and take its snapshot now, so that a failure to read shows
    here rather than in the caller's first query."""
    db.execute("begin")
    db.execute("select count(*) from sqlite_master").fetchone()


def user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("pragma user_version").fetchone()[0])


def rollback(db: sqlite3.Connection) -> None:
    """Roll back whatever is open; a failure here must not hide the error that led here."""
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("rollback")
