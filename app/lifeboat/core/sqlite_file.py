"""Recognising SQLite database files and opening them the way Lifeboat needs."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.kept_descriptors import read_start
from lifeboat.foundation.errors import SourceBusy, SourceError

if TYPE_CHECKING:  # at run time in open_copy: the status and the tray do not need it
    from lifeboat.core.standins import StandInConnection

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_SQLITE_CORRUPT = 11

#: What to do about a live database SQLite proved damaged. Never a bare "restore": the
#: preview comes first (docs/SAFETY.md), and an in-place restore keeps the current file.
RESTORE_HINT = (
    "to put a snapshot back, first see what restoring it would change: "
    "`lifeboat diff ID` (IDs: `lifeboat snapshots`, or the preview in the "
    "Restore window); then `lifeboat restore ID`, which keeps the current file "
    "as a protected snapshot first"
)
#: The same when SQLite cannot open the file at all (no preview can read it).
RESTORE_TO_NEW_FILE_HINT = (
    "to get the data back, write a snapshot to a new file first "
    "and look at it: `lifeboat restore ID --to PATH` (IDs: "
    "`lifeboat snapshots`); it leaves this file as it is"
)


@dataclass(frozen=True)
class DatabaseFileInfo:
    path: Path
    size: int
    wal_size: int
    page_size: int
    wal_mode: bool

    @property
    def estimated_db_size(self) -> int:
        """Upper estimate of the logical database size (file plus pending WAL pages)."""
        return self.size + self.wal_size


def header_page_size(header: bytes) -> int:
    """The page size a database header (its first 100 bytes) says: bytes 16-17, big
    endian, 1 standing for 65536. Not validated here."""
    raw = int.from_bytes(header[16:18], "big")
    return 65536 if raw == 1 else raw


def probe_database(path: Path) -> DatabaseFileInfo:
    """Check that `path` is a readable SQLite database file, from its header alone."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"no such file: {path}", "check the path to the database")
    if path.is_dir():
        raise SourceError(
            f"{path} is a folder, not a SQLite database file",
            "give the path of the database file itself",
        )
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file", "give the path of a SQLite database")
    try:
        # through the descriptor this process keeps for the file: closing one would drop
        # the SQLite locks this process holds on it (core/change_mark.py)
        header, _ = read_start(path, HEADER_SIZE)
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(
            f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions"
        ) from None
    if size == 0:
        raise SourceError(
            f"{path} is empty (0 bytes), not a SQLite database",
            "point Lifeboat at a database that holds data",
        )
    if len(header) < HEADER_SIZE or not header.startswith(SQLITE_MAGIC):
        raise SourceError(
            f"{path} is not a SQLite database (no SQLite header; it may be encrypted, "
            "e.g. with SQLCipher, or another kind of file)",
            "choose an unencrypted SQLite database file",
        )
    raw_page_size = int.from_bytes(header[16:18], "big")
    page_size = header_page_size(header)
    if page_size < 512 or page_size & (page_size - 1):
        raise SourceError(
            f"{path} has a damaged SQLite header (page size {raw_page_size}): "
            "SQLite cannot open it",
            RESTORE_TO_NEW_FILE_HINT,
        )
    wal = Path(f"{path}-wal")
    try:
        wal_size = wal.stat().st_size
    except OSError:
        wal_size = 0
    return DatabaseFileInfo(
        path=path,
        size=size,
        wal_size=wal_size,
        page_size=page_size,
        wal_mode=header[18] == 2 and header[19] == 2,
    )


def says_wal(path: Path) -> bool:
    """Whether the file's header says it is an SQLite database in WAL mode now. Read
    through the descriptor this process keeps for it: closing one of its own would drop
    the SQLite locks a connection of this process holds on it."""
    try:
        header, _ = read_start(path, 20)
    except OSError:
        return False
    return header[:16] == SQLITE_MAGIC and header[18:20] == b"\x02\x02"


def file_uri(path: Path, **params: str) -> str:
    """A `file:` URI for `path` with query parameters (for sqlite3.connect(uri=True))."""
    quoted = urllib.parse.quote(os.fspath(Path(path).resolve()))
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quoted}?{query}" if query else f"file:{quoted}"


def open_source(path: Path, timeout: float) -> sqlite3.Connection:
    """Open a live database for reading without ever creating it.

    Read-only first, so a bug of ours can never write to the user's database; read-write
    (as any SQLite client opens it) only when read-only cannot work, e.g. a hot journal
    that must be rolled back first.
    """
    last: sqlite3.Error | None = None
    for mode in ("ro", "rw"):
        try:
            conn = sqlite3.connect(
                file_uri(path, mode=mode),
                uri=True,
                timeout=timeout,
                check_same_thread=False,
                isolation_level=None,
            )
            conn.execute("select count(*) from sqlite_master").fetchone()
            return conn
        except sqlite3.DatabaseError as exc:
            last = exc
            if "locked" in str(exc) or "busy" in str(exc):
                raise SourceBusy(
                    f"{path} stayed locked by another program for {timeout:g} s",
                    "retry later, or ask the program to release its lock",
                ) from None
            if "not a database" in str(exc) or "encrypted" in str(exc):
                break
    if last is not None and is_damage(last):
        raise SourceError(f'{path} is damaged: SQLite reports "{last}"', RESTORE_HINT)
    raise SourceError(
        f"cannot open {path} as a SQLite database: {last}",
        "check that the file is an unencrypted SQLite database you can read",
    )


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite itself reports the file corrupt (proven damage: "database disk image
    is malformed", "malformed database schema"), not merely unreadable to us."""
    code = getattr(exc, "sqlite_errorcode", None)
    return "malformed" in str(exc) or (isinstance(code, int) and code & 0xFF == _SQLITE_CORRUPT)


def open_copy(path: Path, *, readonly: bool = True) -> StandInConnection:
    """Open a standalone snapshot copy (ours, never the user's live database).

    The application's own collations and functions get stand-ins as SQLite asks for
    them (core/standins.py): a healthy database that uses them reads and checks as any
    other; `conn.stand_ins` says which were needed.
    """
    from lifeboat.core.standins import StandInConnection

    mode = "ro" if readonly else "rw"
    conn = sqlite3.connect(
        file_uri(path, mode=mode),
        uri=True,
        check_same_thread=False,
        isolation_level=None,
        factory=StandInConnection,
    )
    assert isinstance(conn, StandInConnection)
    return conn
