"""A plan made before the merge's write lock, checked again under it: writes of the app
to rows the plan does not touch leave it holding; a row it brings back written again, a
row it puts back edited again, a UNIQUE value it needs taken, or the schema changed
make it not hold (the merge then plans again under the lock). Each case against real
SQLite files, the app's write made by a second connection as the app would."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.rowmerge import connect_merge
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_recheck import plan_before_lock, plan_still_holds
from lifeboat.core.rowmerge_records import MergeRequest

SCHEMA = "create table t(id integer primary key, name text unique, n int)"


def _db(path: Path, rows: list[tuple[int, str, int]]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode=wal")
    conn.execute(SCHEMA)
    conn.executemany("insert into t values (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def _app_writes(live: Path, sql: str) -> None:
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute(sql)
    conn.close()


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    past = _db(tmp_path / "past.db", [(i, f"n{i}", i) for i in range(1, 21)])
    # live: 1-5 deleted, 6-10 changed, 21-22 added
    live_rows = [(i, f"n{i}", i + (100 if i <= 10 else 0)) for i in range(6, 21)]
    live = _db(tmp_path / "live.db", [*live_rows, (21, "n21", 0), (22, "n22", 0)])
    return past, live


CASES = [
    ("an unrelated row is edited", "update t set n = -1 where id = 15", None),
    ("an added row is deleted", "delete from t where id = 21", None),
    ("a new unrelated row", "insert into t values (30, 'n30', 0)", None),
    ("a deleted row is written again", "insert into t values (3, 'again', 0)", "written again"),
    ("a row to put back is edited again", "update t set n = 7 where id = 8", "changed again"),
    ("a UNIQUE value is taken", "update t set name = 'n2' where id = 22", "hold values"),
    ("the schema changes", "create table other(x)", "tables changed"),
]


@pytest.mark.parametrize(("what", "sql", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_a_plan_made_before_the_lock_holds_unless_what_it_relies_on_changed(
    sides: tuple[Path, Path], what: str, sql: str, verdict: str | None
):
    past, live = sides
    request = MergeRequest("t", prefer_past=True)
    conn = connect_merge(live, past, 5)
    try:
        planning = plan_before_lock(conn, request)
        plan, sides_ = planning.planned
        assert (plan.to_insert, plan.overwritten) == (5, 5)
        _app_writes(live, sql)
        conn.execute("BEGIN IMMEDIATE")
        found = plan_still_holds(conn, sides_, plan, request, planning.schema)
        if verdict is None:
            assert found is None, what
            # and the plan, applied as made, is exactly the merge planned under the lock
            _, inserted, updated = apply_merge(conn, request, None, planning.planned)
            assert (inserted, updated) == (5, 5)
            conn.execute("COMMIT")
        else:
            assert found is not None and verdict in found, found
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    if verdict is None:
        check = sqlite3.connect(live)
        got = dict(check.execute("select id, n from t").fetchall())
        check.close()
        assert all(got[i] == i for i in range(1, 11)), "deleted back, changed put back"


def test_a_table_without_a_key_is_never_taken_as_holding_once_written(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    for path, count in ((past, 6), (live, 3)):
        conn = sqlite3.connect(path)
        conn.execute("create table k(v text)")
        conn.executemany("insert into k values (?)", [(f"v{i}",) for i in range(count)])
        conn.commit()
        conn.close()
    request = MergeRequest("k")
    conn = connect_merge(live, past, 5)
    try:
        planning = plan_before_lock(conn, request)
        plan, sides_ = planning.planned
        conn.execute("BEGIN IMMEDIATE")
        assert "no primary key" in str(
            plan_still_holds(conn, sides_, plan, request, planning.schema)
        )
        conn.execute("ROLLBACK")
    finally:
        conn.close()
