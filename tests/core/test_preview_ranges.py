"""The restore preview compared within rowid intervals (core/preview_ranges.py,
core/live_positions.py, core/interval_diff.py) gives exactly what a brute force gives:
every row of both databases read into Python and matched by key. Real SQLite files: a
snapshot copy, then updates, deletes and inserts of many shapes (rows growing onto
overflow pages and shrinking off them, a blob changed only in its overflow tail, deleted
runs that free pages, inserts past the end that split the root), the scratch file built
as the preview builds it, with only the pages the plan reads."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.dbdiff import diff_databases
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.interval_diff import IntervalsUnproven
from lifeboat.core.live_positions import differing_positions
from lifeboat.core.page_bits import PageBits
from lifeboat.core.preview_ranges import (
    IntervalPlan,
    SnapshotPages,
    copy_subtree,
    plan_intervals,
)

PAGE = 1024  # small pages: deep b-trees and overflow rows from a small database


def _build(path: Path, rng: random.Random) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={PAGE}")
    conn.execute("create table t(id integer primary key, a text, b blob)")
    conn.execute("create table plain(x integer, y text)")  # no key: matched on rowid
    conn.execute("create table still(id integer primary key, v text)")
    conn.execute("create index t_a on t(a)")
    conn.execute("begin")
    for i in range(1, 3001):
        blob = rng.randbytes(rng.choice([10, 200, 3000])) if i % 4 == 0 else None
        if i % 50 != 25:  # gaps an insert can fill later
            conn.execute(
                "insert into t values (?, ?, ?)", (i, f"row {i} " * rng.randrange(1, 8), blob)
            )
        conn.execute("insert into plain values (?, ?)", (i % 97, "p" * rng.randrange(5, 90)))
        if i <= 500:
            conn.execute("insert into still values (?, ?)", (i, "s" * 40))
    conn.execute("commit")
    conn.execute("analyze")  # sqlite_stat1, which SQLite reads with the schema
    conn.close()


def _change(path: Path, rng: random.Random, how: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("begin")
    if how in ("updates", "mixed"):
        for i in rng.sample(range(1, 3001), 60):
            conn.execute("update t set a = ? where id = ?", (f"new {i} " * rng.randrange(1, 12), i))
    if how in ("overflow", "mixed"):
        for i, blob in conn.execute("select id, b from t where length(b) = 3000 limit 5"):
            tail = bytes(blob[:-5]) + b"CHANG"  # the same length: only an overflow page
            conn.execute("update t set b = ? where id = ?", (tail, i))
        for i in rng.sample(range(2, 3001, 4), 20):  # rows onto and off overflow pages
            conn.execute(
                "update t set b = ? where id = ?", (rng.randbytes(rng.choice([5, 4000])), i)
            )
    if how in ("deletes", "mixed"):
        start = rng.randrange(100, 2500)
        conn.execute("delete from t where id between ? and ?", (start, start + 150))
        conn.execute("delete from plain where rowid % 53 = 0")
    if how in ("inserts", "mixed"):
        for i in range(3001, 3400):  # past the end: new leaves, the root splits
            conn.execute("insert into t values (?, ?, ?)", (i, "tail", rng.randbytes(50)))
        conn.execute(
            "insert into t values (?, 'in a gap', null)", (rng.randrange(2, 60) * 50 + 25,)
        )
        conn.execute("insert into plain values (1000, 'appended')")
    conn.execute("commit")
    conn.close()


def _brute(snapshot: Path, live: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """(rows in the snapshot, rows now, brought back, removed, changed) of each table."""
    figures = {}
    for name in ("plain", "still", "t"):
        rows = []
        for path in (snapshot, live):
            conn = sqlite3.connect(path)
            rows.append({r[0]: r[1:] for r in conn.execute(f"select rowid, * from {name}")})
            conn.close()
        then, now = rows
        changed = sum(1 for k in then.keys() & now.keys() if then[k] != now[k])
        figures[name] = (
            len(then),
            len(now),
            len(then.keys() - now.keys()),
            len(now.keys() - then.keys()),
            changed,
        )
    return figures


def _figures(diff: DatabaseDiff) -> dict[str, tuple[object, ...]]:
    return {
        t.name: (t.rows_snapshot, t.rows_now, t.brought_back, t.removed, t.changed)
        for t in diff.tables
    }


def _differing(snapshot: Path, live: Path) -> PageBits:
    then, now = snapshot.read_bytes(), live.read_bytes()
    count = max(len(then), len(now)) // PAGE
    differing = PageBits(count)
    differing.add(1)
    for number in range(1, count + 1):
        at = (number - 1) * PAGE
        if then[at : at + PAGE] != now[at : at + PAGE]:
            differing.add(number)
    return differing


def _plan(
    snapshot: Path,
    live: Path,
    scratch: Path,
    names: frozenset[str] = frozenset(("t", "plain", "still")),
) -> IntervalPlan | None:
    """What the preview does: the differing pages written into a new sparse scratch file,
    then the walk, which copies in the snapshot pages it reads."""
    differing = _differing(snapshot, live)
    data = snapshot.read_bytes()
    fd = os.open(scratch, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    live_fd = os.open(live, os.O_RDONLY)
    conn = sqlite3.connect(f"file:{live}?mode=ro", uri=True, isolation_level=None)
    try:
        os.ftruncate(fd, len(data))
        for number in differing:
            at = (number - 1) * PAGE
            if at < len(data):
                os.pwrite(fd, data[at : at + PAGE], at)
        counts = (len(data) // PAGE, os.fstat(live_fd).st_size // PAGE)
        pages = SnapshotPages(
            fd, lambda n: os.pread(live_fd, PAGE, (n - 1) * PAGE), PAGE, differing, counts
        )
        copy_subtree(pages, 1)
        conn.execute("begin")
        return plan_intervals(conn, pages, set(names))
    finally:
        conn.close()
        os.close(live_fd)
        os.close(fd)


@pytest.mark.parametrize("how", ["updates", "overflow", "deletes", "inserts", "mixed"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_intervals_give_the_brute_force_figures(tmp_path: Path, how: str, seed: int) -> None:
    rng = random.Random(seed)
    snapshot, live, scratch = tmp_path / "snap.db", tmp_path / "live.db", tmp_path / "scratch.db"
    _build(snapshot, rng)
    shutil.copyfile(snapshot, live)
    _change(live, rng, how)
    plan = _plan(snapshot, live, scratch)
    assert plan is not None  # every table that differs is matched on its rowid
    assert "still" in plan.unchanged and "t" in plan.intervals
    # the scratch file holds a fraction of the snapshot's pages (the rest are holes)
    data = scratch.read_bytes()
    held = sum(1 for at in range(0, len(data), PAGE) if any(data[at : at + PAGE]))
    assert held < len(data) // PAGE // 2
    quick = diff_databases(
        scratch, live, unchanged=frozenset(plan.unchanged), intervals=plan.intervals
    )
    expected = _brute(snapshot, live)
    assert _figures(quick) == expected
    assert _figures(diff_databases(snapshot, live)) == expected
    assert not quick.partial


def test_an_overflow_page_alone_is_found_through_dbstat(tmp_path: Path) -> None:
    """A blob whose change lies on its overflow page only leaves its leaf the same: the
    interior pages cannot say whose page that is (None), dbstat can, and the row counts
    as changed."""
    rng = random.Random(7)
    snapshot, live = tmp_path / "snap.db", tmp_path / "live.db"
    _build(snapshot, rng)
    shutil.copyfile(snapshot, live)
    _change(live, rng, "overflow")
    differing = _differing(snapshot, live)
    fd = os.open(live, os.O_RDONLY)
    try:
        roots = {"sqlite_schema": 1}
        conn = sqlite3.connect(live)
        roots |= dict(conn.execute("select name, rootpage from sqlite_schema where rootpage > 0"))
        conn.close()
        count = os.fstat(fd).st_size // PAGE
        read = lambda n: os.pread(fd, PAGE, (n - 1) * PAGE)  # noqa: E731
        assert differing_positions(read, PAGE, count, roots, differing) is None
    finally:
        os.close(fd)
    plan = _plan(snapshot, live, tmp_path / "scratch.db")
    assert plan is not None
    quick = diff_databases(
        tmp_path / "scratch.db", live, unchanged=frozenset(plan.unchanged), intervals=plan.intervals
    )
    assert _figures(quick)["t"] == _brute(snapshot, live)["t"]
    assert _brute(snapshot, live)["t"][4] >= 5


def test_a_page_the_plan_lacks_is_caught_not_read_as_rows(tmp_path: Path) -> None:
    """Should the scratch file lack a page a comparison reads (zeroed here on purpose),
    SQLite's report of damage comes back as IntervalsUnproven: the caller then compares
    in full, never with a figure from the missing page."""
    rng = random.Random(4)
    snapshot, live, scratch = tmp_path / "snap.db", tmp_path / "live.db", tmp_path / "scratch.db"
    _build(snapshot, rng)
    shutil.copyfile(snapshot, live)
    _change(live, rng, "updates")
    plan = _plan(snapshot, live, scratch)
    assert plan is not None
    conn = sqlite3.connect(snapshot)
    root = conn.execute("select rootpage from sqlite_schema where name = 't'").fetchone()[0]
    conn.close()
    with open(scratch, "r+b") as file:  # the table's root: every search starts there
        file.seek((root - 1) * PAGE)
        file.write(bytes(PAGE))
    with pytest.raises(IntervalsUnproven):
        diff_databases(scratch, live, unchanged=frozenset(plan.unchanged), intervals=plan.intervals)
