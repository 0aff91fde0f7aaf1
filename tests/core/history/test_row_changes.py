"""Row changes per commit, counted from the pages each commit wrote, against a
row-by-row diff of the two rebuilt databases (row_reference.py)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from lifeboat.core.history.btree import TABLE_LEAF, cells, kind
from lifeboat.core.history.in_place import chain as chain_pages
from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.tables import layout, payload, read_schema, tree_pages
from tests.core.history.helpers import make_capture
from tests.core.history.row_reference import check_every_commit


def _n(count: int) -> str:
    """A CTE prefix giving the numbers 1..count as n(i)."""
    return f"with recursive n(i) as (select 1 union all select i + 1 from n where i < {count}) "


def _app(db, auto_vacuum, secure_delete):  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(db, isolation_level=None)
    # Some builds (Debian's) turn secure_delete on, most (Python's wheels, macOS) leave
    # it off: then SQLite frees pages without writing them.
    conn.execute(f"pragma secure_delete={secure_delete}")
    conn.execute(f"pragma auto_vacuum={auto_vacuum}")
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma page_size=1024")
    return conn


def _follow(  # type: ignore[no-untyped-def]
    tmp_path, setup, steps, auto_vacuum="none", secure_delete="off"
):
    """Run `setup`, start following, then run each step as its own commit, captured;
    check every commit against the reference and return how many changed rows."""
    db = tmp_path / "app.db"
    conn = _app(db, auto_vacuum, secure_delete)
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


def test_updates_of_large_rows_with_overflow_in_place_and_resized(tmp_path):
    def setup(conn):  # type: ignore[no-untyped-def]
        conn.execute("create table docs(id integer primary key, body blob)")
        conn.execute(_n(30) + "insert into docs(body) select randomblob(9000) from n")

    def same_size(conn):  # type: ignore[no-untyped-def]
        # Same size: SQLite overwrites the payload in place, writing only the overflow
        # pages whose bytes differ (the first one may not be among them).
        body = bytearray(conn.execute("select body from docs where id = 5").fetchone()[0])
        body[8000] ^= 0xFF
        conn.execute("update docs set body = ? where id = 5", (bytes(body),))

    steps = [
        same_size,
        lambda c: c.execute("update docs set body = randomblob(20000) where id = 7"),
        lambda c: c.execute("update docs set body = randomblob(100) where id in (8, 9)"),
        lambda c: c.execute("update docs set body = body where id = 10"),  # no change
        lambda c: c.execute("delete from docs where id between 11 and 20"),
        lambda c: c.execute("insert into docs(body) values (randomblob(50000))"),
    ]
    assert _follow(tmp_path, setup, steps) == len(steps) - 1


def test_a_table_dropped_created_and_two_tables_with_the_same_rowids(tmp_path):
    def setup(conn):  # type: ignore[no-untyped-def]
        conn.execute("create table a(id integer primary key, v text)")
        conn.execute("create table b(id integer primary key, v text)")
        conn.execute("create table gone(id integer primary key, v text)")
        conn.execute("create table bulk(id integer primary key, v text)")
        for table in ("a", "b", "gone", "bulk"):
            conn.execute(
                _n(300) + f"insert into {table}(id, v) select i, hex(randomblob(30)) from n"
            )

    def same_rowids(conn):  # type: ignore[no-untyped-def]
        conn.execute("update a set v = 'A' where id in (3, 150)")
        conn.execute("update b set v = 'B' where id in (3, 151)")
        conn.execute("delete from b where id = 4")
        conn.execute("insert into a(id, v) values (1000, 'new')")

    def drop_and_recreate(conn):  # type: ignore[no-untyped-def]
        conn.execute("drop table b")
        conn.execute("create table b(id integer primary key, v text)")
        conn.execute("insert into b values (1, 'one'), (2, 'two')")

    steps = [
        same_rowids,
        # Emptied at once: SQLite frees its leaves without writing them (only their
        # parent, the root, is written): the leaves the root lost count as deleted.
        lambda c: c.execute("delete from bulk"),
        lambda c: c.execute("drop table gone"),
        lambda c: c.execute("create table made as " + _n(500) + "select i as k, i * 2 as w from n"),
        drop_and_recreate,
        lambda c: c.execute("alter table a rename to renamed"),
    ]
    assert _follow(tmp_path, setup, steps) == len(steps)


def test_without_rowid_tables_are_counted_by_their_primary_key(tmp_path):
    def setup(conn):  # type: ignore[no-untyped-def]
        conn.execute("create table kv(k text, n integer, v blob, primary key (k, n)) without rowid")
        conn.execute(
            _n(800) + "insert into kv select 'key' || (i % 40), i, randomblob(i % 90) from n"
        )
        conn.execute("create table small(k integer primary key, v text) without rowid")

    steps = [
        lambda c: c.execute("update kv set v = x'00' where n % 13 = 0"),
        lambda c: c.execute("delete from kv where n between 100 and 600"),
        lambda c: c.execute(_n(300) + "insert into kv select 'new', i, randomblob(400) from n"),
        lambda c: c.execute("update kv set v = randomblob(3000) where n = 700"),  # overflow
        lambda c: c.execute("insert into small values (1, 'a'), (2, 'b')"),
        lambda c: c.execute("delete from kv"),
    ]
    assert _follow(tmp_path, setup, steps) == len(steps)


def _random_step(rng):  # type: ignore[no-untyped-def]
    """One random transaction over three tables (one WITHOUT ROWID, one indexed)."""
    ops = []
    for _ in range(rng.randint(1, 4)):
        table = rng.choice(["t1", "t2", "wr"])
        what = rng.random()
        lo = rng.randint(1, 600)
        hi = lo + rng.choice([0, 1, 5, 40, 200])
        size = rng.choice([10, 200, 900, 3000, 12000])
        key = "n" if table == "wr" else "id"
        if what < 0.35:
            count = rng.choice([1, 3, 30, 150])
            cols = "(n, v)" if table == "wr" else "(v)"
            start = rng.randint(1, 100000)
            vals = f"{start} + i, randomblob({size})" if table == "wr" else f"randomblob({size})"
            ops.append(_n(count) + f"insert or replace into {table}{cols} select {vals} from n")
        elif what < 0.6:
            ops.append(
                f"update {table} set v = randomblob({size}) where {key} between {lo} and {hi}"
            )
        elif what < 0.75:
            # The same size, the first half kept: SQLite overwrites the payload in place,
            # a large one's overflow pages alone.
            ops.append(
                f"update {table} set v = cast(substr(v, 1, length(v) / 2) || "
                f"zeroblob(length(v) - length(v) / 2) as blob) "
                f"where {key} between {lo} and {lo + 2}"
            )
        else:
            ops.append(f"delete from {table} where {key} between {lo} and {hi}")
    return lambda c: [c.execute(sql) for sql in ops]


@pytest.mark.parametrize(
    ("seed", "vacuum", "secure"), [(1, "none", "off"), (2, "none", "on"), (3, "full", "off")]
)
def test_random_transactions_match_the_reference(tmp_path, seed, vacuum, secure):
    rng = random.Random(seed)

    def setup(conn):  # type: ignore[no-untyped-def]
        conn.execute("create table t1(id integer primary key, v blob)")
        conn.execute("create table t2(id integer primary key, v blob, w text)")
        conn.execute("create index t2_v on t2(v)")
        conn.execute("create table wr(n integer primary key, v blob) without rowid")
        for table, cols in (("t1", "(v)"), ("t2", "(v)"), ("wr", "(n, v)")):
            vals = "i, randomblob(i % 500)" if table == "wr" else "randomblob(i % 700)"
            conn.execute(_n(400) + f"insert into {table}{cols} select {vals} from n")

    steps = [_random_step(rng) for _ in range(40)]
    assert _follow(tmp_path, setup, steps, auto_vacuum=vacuum, secure_delete=secure) >= 30


def test_merged_catch_ups_and_utf16_names(tmp_path):
    """The app checkpoints and restarts its WAL before the follower reads some commits:
    the catch-up merges them, and its counts are those of all of them together."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma encoding = 'UTF-16le'")
    conn.execute("pragma secure_delete = off")
    conn.execute("pragma journal_mode=wal")
    conn.execute('create table "notes ünï" (id integer primary key, v text)')
    conn.execute(_n(500) + 'insert into "notes ünï"(v) select hex(randomblob(50)) from n')
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for k in range(6):
        conn.execute(f"update \"notes ünï\" set v = '{k}' where id % 6 = {k}")
        conn.execute(f'delete from "notes ünï" where id between {k * 70} and {k * 70 + 20}')
        if k % 2:
            conn.execute("pragma wal_checkpoint(truncate)")  # before the follower saw it
        conn.execute(_n(30) + "insert into \"notes ünï\"(v) select 'new' from n")
        follower.poll()
    assert follower.status.merged >= 1
    base = follower.status.chain
    assert base is not None
    assert check_every_commit(capture, base) >= 6
    follower.close()
    conn.close()


def _placed_rows(state, tables):  # type: ignore[no-untyped-def]
    """Every row of every rowid table: (table, rowid) -> (page, whole payload, its
    overflow pages)."""
    shape = layout(state)
    found = {}
    for table in tables.values():
        if table.index_tree:
            continue
        for number, image in tree_pages(state, table.root).items():
            if kind(image, number) == TABLE_LEAF:
                for cell in cells(image, number, shape.usable):
                    found[(table.name, cell.key)] = (
                        number,
                        payload(state, cell, shape.usable),
                        set(chain_pages(state, cell, shape.usable)),
                    )
    return found


@pytest.mark.parametrize("secure", ["off", "on"])
def test_sqlite_rewrites_every_page_a_row_enters_or_leaves(tmp_path, secure):
    """The claim the counting rests on, checked on whole trees: a row on a page the
    commit did not write is on it, unchanged, before and after, unless its overflow
    pages were rewritten in place; a row that left a page not written left a page freed
    (no longer in any tree)."""
    rng = random.Random(11)
    db = tmp_path / "app.db"
    conn = _app(db, "none", secure)
    conn.execute("create table t1(id integer primary key, v blob)")
    conn.execute("create table t2(id integer primary key, v blob)")
    conn.execute(_n(600) + "insert into t1(v) select randomblob(i % 900) from n")
    conn.execute(_n(300) + "insert into t2(v) select randomblob(5000) from n")
    conn.execute("create table wr(n integer primary key, v blob) without rowid")
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for _ in range(25):
        conn.execute("begin")
        _random_step(rng)(conn)
        conn.execute("commit")
        follower.poll()
    base = capture.open_base(follower.status.chain)
    chain = ChainPages(base, capture.chain(follower.status.chain), capture.run, capture.scratch)
    try:
        last = chain.segments[-1].commits[-1].seq
        in_place = 0
        for seq in range(1, last + 1):
            before, after = chain.state(seq - 1), chain.state(seq)
            written = chain.written(seq)
            old = _placed_rows(before, read_schema(before))
            new = _placed_rows(after, read_schema(after))
            live_after = {page for page, _, _ in new.values()}
            for key, (page, body, overflow) in new.items():
                if page not in written:
                    was = old.get(key)
                    assert was is not None and was[0] == page, (seq, key)
                    if was[1] != body:
                        assert overflow & written, (seq, key)
                        in_place += 1
            for key, (page, _, _) in old.items():
                moved = new.get(key, (None, None))[0] != page
                if moved and page not in written:
                    assert page not in live_after, (seq, key)
        assert in_place, "the workload changed no row through its overflow pages alone"
    finally:
        chain.close()
        follower.close()
        conn.close()
