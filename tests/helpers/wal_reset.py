"""The app's own SQLite losing a write, told apart from a torn copy of Lifeboat's.

SQLite 3.7.0 through 3.51.2 (fixed in 3.51.3, backported to 3.44.6 and 3.50.7) can lose
part of a committed transaction when one connection resets the WAL while another starts a
checkpoint (sqlite.org/wal.html#walresetbug): the database file keeps some pages of the
commit and not others, nBackfill says every frame is copied back, and every reader after
that, SQLite's own included, reads the loss. A ledger test whose writer and checkpointer
run on such a SQLite (this Python's sqlite3 module: 3.40.1 here) can hit it. Its copies
are then faithful copies of a database SQLite itself tore, and the loss stays in the live
database for good (later commits update the pages as they find them). So such a test
reads the live database once its writers stopped: torn itself, it cannot judge a copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def ledger_reading(path: Path) -> tuple[int, int]:
    """(sum of the rows' versions, the ledger's total) of a ledger database, after its
    integrity check passed: equal in every state a ledger writer committed."""
    problems = _integrity(path)
    assert problems is None, problems
    return _ledger_values(path)


def copy_reading(path: Path) -> tuple[int, int] | str:
    """`ledger_reading` of a copy, or what SQLite's integrity check says of it when it
    fails: a copy of a database SQLite itself damaged is damaged too, and only the live
    database, read once its writers stopped, tells which it was (`judge_ledger_copies`)."""
    problems = _integrity(path)
    return problems if problems is not None else _ledger_values(path)


def _ledger_values(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        versions = conn.execute("select sum(version) from items").fetchone()[0]
        total = conn.execute("select total from ledger").fetchone()[0]
        return int(versions), int(total)
    finally:
        conn.close()


#: SQLITE_CORRUPT and SQLITE_NOTADB: what SQLite says of damage (a lock, an I/O error or
#: a read-only file is not damage, and is raised)
_DAMAGE_CODES = (11, 26)


def _integrity(path: Path) -> str | None:
    """SQLite's integrity check of `path` in one line, or None when it passes."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        lines = [str(row[0]) for row in conn.execute("pragma integrity_check")]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _DAMAGE_CODES:
            raise
        lines = [str(exc)]
    finally:
        conn.close()
    return None if lines == ["ok"] else "; ".join(lines[:3])


def lost_write(live: Path) -> str | None:
    """What SQLite lost of the live ledger database `live` (its b-trees are out of
    order, or its rows and ledger disagree), or None. Read once every writer and
    checkpointer of it has stopped."""
    problems = _integrity(live)
    if problems is not None:
        return f"the live database itself is damaged ({problems})"
    versions, total = _ledger_values(live)
    if versions == total:
        return None
    return f"the live database itself lost part of a commit (rows {versions}, ledger {total})"


def judge_ledger_copies(
    live: Path,
    readings: list[tuple[int, int] | str],
    logged: set[int],
    *,
    sqlite_has_bug: bool | None = None,
) -> None:
    """Every copy read (`readings`, from `copy_reading`) is a state the ledger writer
    committed (`logged` totals). A copy SQLite's check found damaged fails the test
    while the live database is intact. A live database that lost a write skips the run
    where the writer's SQLite has the WAL-reset bug (`sqlite_has_bug`: this Python's, by
    default), and fails it elsewhere: then nothing but Lifeboat can have torn it."""
    import pytest

    from lifeboat.core.wal_reset import has_wal_reset_bug

    lost = lost_write(live)
    if lost is not None:
        if sqlite_has_bug is None:
            sqlite_has_bug = has_wal_reset_bug(sqlite3.sqlite_version_info)
        if not sqlite_has_bug:
            pytest.fail(f"{lost}, and its SQLite {sqlite3.sqlite_version} has no WAL-reset bug")
        pytest.skip(
            f"{lost}: the WAL-reset bug of the writer's SQLite {sqlite3.sqlite_version} "
            "(sqlite.org/wal.html#walresetbug, fixed in 3.51.3), not a torn copy"
        )
    damaged = [reading for reading in readings if isinstance(reading, str)]
    assert not damaged, f"damaged copies of an intact database: {damaged}"
    states = [reading for reading in readings if not isinstance(reading, str)]
    torn = [(versions, total) for versions, total in states if versions != total]
    assert not torn, f"torn copies (rows, ledger): {torn}"
    totals = {total for _, total in states}
    assert totals <= logged, totals - logged
