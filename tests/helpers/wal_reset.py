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
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        versions = conn.execute("select sum(version) from items").fetchone()[0]
        total = conn.execute("select total from ledger").fetchone()[0]
        return int(versions), int(total)
    finally:
        conn.close()


def lost_write(live: Path) -> str | None:
    """Why copies of the live ledger database `live` cannot be judged (its own rows and
    ledger disagree: SQLite lost part of a commit), or None. Read once every writer and
    checkpointer of it has stopped."""
    versions, total = ledger_reading(live)
    if versions == total:
        return None
    return (
        f"the live database itself lost part of a commit (rows {versions}, ledger {total}): "
        f"the WAL-reset bug of the writer's SQLite {sqlite3.sqlite_version} "
        "(sqlite.org/wal.html#walresetbug, fixed in 3.51.3), not a torn copy"
    )


def judge_ledger_copies(live: Path, readings: list[tuple[int, int]], logged: set[int]) -> None:
    """Every copy read (`readings`) is a state the ledger writer committed (`logged`
    totals), unless the live database itself lost a write: then the run is skipped."""
    import pytest

    reason = lost_write(live)
    if reason is not None:
        pytest.skip(reason)
    torn = [(versions, total) for versions, total in readings if versions != total]
    assert not torn, f"torn copies (rows, ledger): {torn}"
    totals = {total for _, total in readings}
    assert totals <= logged, totals - logged
