"""Row changes per commit, counted from the pages each commit wrote, against a
row-by-row diff of the two rebuilt databases (row_reference.py)."""

from __future__ import annotations

import sqlite3

from tests.core.history.helpers import make_capture
from tests.core.history.row_reference import check_every_commit


def _n(count: int) -> str:
    """A CTE prefix giving the numbers 1..count as n(i)."""
    return f"with recursive n(i) as (select 1 union all select i + 1 from n where i < {count}) "


def _app(db):  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma page_size=1024")
    return conn


def _follow(tmp_path, setup, steps):  # type: ignore[no-untyped-def]
    """Run `setup`, start following, then run each step as its own commit, captured."""
    db = tmp_path / "app.db"
    conn = _app(db)
    setup(conn)
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for step in steps:
        conn.execute("begin")
        step(conn)
        conn.execute("commit")
        follower.poll()
    base = follower.status.chain
    assert base is not None
    counted = check_every_commit(capture, base)
    follower.close()
    conn.close()
    return counted


def test_inserts_that_split_pages_and_deletes_that_merge_them(tmp_path):
    def setup(conn):  # type: ignore[no-untyped-def]
        conn.execute("create table items(id integer primary key, v text)")
        conn.execute(_n(50) + "insert into items(v) select hex(randomblob(40)) from n")

    steps = [
        lambda c: c.execute(_n(400) + "insert into items(v) select hex(randomblob(60)) from n"),
        lambda c: c.execute("update items set v = v || 'x' where id % 7 = 0"),
        lambda c: c.execute("delete from items where id between 30 and 300"),
        lambda c: c.execute("delete from items where id % 2 = 0"),
        lambda c: c.execute("insert into items(id, v) values (100000, 'far')"),
        lambda c: c.execute("delete from items"),
    ]
    assert _follow(tmp_path, setup, steps) == len(steps)
