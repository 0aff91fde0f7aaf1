"""How the ledger tests judge copies made while a writer ran (tests/helpers/wal_reset.py):
a damaged or torn copy of an intact live database fails the test; only a live database
SQLite itself damaged or tore (its WAL-reset bug) makes the run unjudgeable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers.wal_reset import copy_reading, judge_ledger_copies


def ledger_db(path: Path, versions: list[int], total: int) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("create table items(id integer primary key, version integer, body text)")
    conn.execute("create index items_version on items(version)")
    conn.executemany(
        "insert into items(version, body) values (?, ?)", [(v, "x" * 300) for v in versions]
    )
    conn.execute("create table ledger(id integer primary key, total integer)")
    conn.execute("insert into ledger values (1, ?)", (total,))
    conn.close()
    return path


def damage(path: Path) -> None:
    """Swap two leaf pages of the index: every page stays well formed, the order breaks
    (as a commit SQLite lost half of leaves it)."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("pragma page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    pages = len(data) // page_size
    leaves = [n for n in range(2, pages) if data[(n - 1) * page_size] == 0x0A]
    first, last = leaves[0], leaves[-1]
    a = slice((first - 1) * page_size, first * page_size)
    b = slice((last - 1) * page_size, last * page_size)
    data[a], data[b] = data[b], data[a]
    path.write_bytes(bytes(data))


def test_a_damaged_copy_of_an_intact_database_fails(tmp_path: Path):
    live = ledger_db(tmp_path / "live.db", [1] * 2000, 2000)
    copy = ledger_db(tmp_path / "copy.db", list(range(2000)), sum(range(2000)))
    damage(copy)
    reading = copy_reading(copy)
    assert isinstance(reading, str) and reading != "ok"
    with pytest.raises(AssertionError, match="damaged copies of an intact database"):
        judge_ledger_copies(live, [reading], {0, 2000})


def test_a_torn_or_unlogged_copy_of_an_intact_database_fails(tmp_path: Path):
    live = ledger_db(tmp_path / "live.db", [1] * 10, 10)
    with pytest.raises(AssertionError, match="torn copies"):
        judge_ledger_copies(live, [(10, 10), (9, 10)], {10})
    with pytest.raises(AssertionError):
        judge_ledger_copies(live, [(7, 7)], {10})
    judge_ledger_copies(live, [(10, 10), (0, 0)], {0, 10})


@pytest.mark.parametrize("how", ["damaged", "lost a write"])
def test_a_live_database_sqlite_tore_cannot_judge_its_copies(tmp_path: Path, how: str):
    live = ledger_db(tmp_path / "live.db", list(range(2000)), sum(range(2000)))
    if how == "damaged":
        damage(live)
    else:
        conn = sqlite3.connect(live, isolation_level=None)
        conn.execute("update ledger set total = total + 1")
        conn.close()
    # skipped only where the writer's SQLite can lose a write by itself
    with pytest.raises(pytest.skip.Exception, match="WAL-reset bug"):
        judge_ledger_copies(live, ["a damaged copy"], {0}, sqlite_has_bug=True)
    with pytest.raises(pytest.fail.Exception, match="has no WAL-reset bug"):
        judge_ledger_copies(live, [(1, 1)], {1}, sqlite_has_bug=False)


def test_only_damage_is_read_as_damage(tmp_path: Path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 300)
    reading = copy_reading(garbage)
    assert isinstance(reading, str) and "not a database" in reading
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        copy_reading(tmp_path / "missing.db")  # not damage: the test errs
