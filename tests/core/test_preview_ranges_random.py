"""The restore preview's rowid intervals (core/preview_ranges.py) against a brute force on
random histories: updates that grow rows onto overflow pages and shrink them off, a bit
flipped deep in a blob's overflow chain, deleted runs, rowid reuse (the largest rowid
deleted then taken again), copies past the end, VACUUM (pages move, keyless rowids are
renumbered), on databases with and without auto_vacuum (pointer-map pages, pages moved at
each commit) and an AUTOINCREMENT table. Each figure must be the brute force's, both with
the live table counted and with the snapshot's counts given (the manifest's).

And what the preview's safety rests on for overflow pages: SQLite reports a zeroed b-tree
page as damage, but reads a zeroed last overflow page as a row's zeros, silently
(`test_a_zeroed_overflow_page_is_not_caught_by_sqlite`). So every overflow page of every
snapshot row the interval queries read must be in the scratch file, with the snapshot's
bytes: checked here against the whole snapshot, row by row."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.btree_pages import next_overflow, overflow_heads, read_varint, table_page
from lifeboat.core.dbdiff import diff_databases
from tests.core.test_preview_ranges import PAGE, _build, _change, _differing, _figures, _plan

NAMES = ("t", "p", "w")
_TEXT = {"t": "a", "p": "y", "w": "v"}


def _random_db(path: Path, rng: random.Random) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={PAGE}")
    conn.execute(f"pragma auto_vacuum={rng.choice([0, 0, 1, 2])}")
    conn.execute("create table t(id integer primary key, a text, b blob)")
    conn.execute("create table p(x, y)")  # no key: matched (and renumbered by VACUUM) on rowid
    conn.execute("create table w(id integer primary key autoincrement, v)")
    conn.execute("begin")
    for i in range(1, rng.randrange(200, 1500)):
        blob = rng.randbytes(rng.choice([0, 10, 900, 2000, 5000]))
        conn.execute("insert into t values (?, ?, ?)", (i * 4 + rng.randrange(4), "a" * i, blob))
        conn.execute("insert into p values (?, ?)", (i % 100, rng.randbytes(rng.choice([4, 1500]))))
        conn.execute("insert into w(v) values (?)", ("w" * rng.randrange(1, 200),))
    conn.execute("commit")
    conn.close()


def _random_history(path: Path, rng: random.Random) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for _ in range(rng.randrange(1, 6)):
        what, name = (
            rng.choice(("update", "delete", "insert", "blob", "vacuum", "reuse", "tail")),
            rng.choice(NAMES),
        )
        if what == "vacuum":
            conn.execute("vacuum")
            continue
        conn.execute("begin")
        top = conn.execute(f"select max(rowid) from {name}").fetchone()[0] or 1
        if what == "update":
            for _ in range(rng.randrange(1, 40)):
                size = rng.randrange(0, 3000)
                rowid = rng.randrange(1, top + 1)
                conn.execute(
                    f"update {name} set {_TEXT[name]} = ? where rowid = ?", ("z" * size, rowid)
                )
        elif what == "delete":
            low = rng.randrange(1, top + 1)
            conn.execute(
                f"delete from {name} where rowid between ? and ?", (low, low + rng.randrange(400))
            )
        elif what == "insert":
            for _ in range(rng.randrange(1, 200)):
                value = "n" * rng.randrange(1, 2000)
                rowid = rng.randrange(1, top + 300) if name != "w" else None
                conn.execute(
                    f"insert or ignore into {name}(rowid, {_TEXT[name]}) values (?, ?)",
                    (rowid, value),
                )
        elif what == "blob":
            for rowid, blob in conn.execute(
                "select id, b from t where length(b) > 1500 order by random() limit 8"
            ).fetchall():
                flipped = bytearray(blob)
                flipped[rng.randrange(len(flipped))] ^= 1
                conn.execute("update t set b = ? where id = ?", (bytes(flipped), rowid))
        elif what == "reuse":
            conn.execute(f"delete from {name} where rowid = ?", (top,))
            conn.execute(
                f"insert into {name}(rowid, {_TEXT[name]}) values (?, 'again')",
                (top if name != "w" else None,),
            )
        else:  # copies past the end: new leaves, the root splits
            column = _TEXT[name]
            conn.execute(
                f"insert into {name}(rowid, {column}) "
                f"select rowid + ?, {column} from {name} where rowid > ?",
                (top, top - 50),
            )
        conn.execute("commit")
    conn.close()


def _brute(snapshot: Path, live: Path) -> dict[str, tuple[int, int, int, int, int]]:
    figures = {}
    for name in NAMES:
        then, now = ({r[0]: r[1:] for r in _rows(path, name)} for path in (snapshot, live))
        changed = sum(1 for k in then.keys() & now.keys() if then[k] != now[k])
        gone, added = len(then.keys() - now.keys()), len(now.keys() - then.keys())
        figures[name] = (len(then), len(now), gone, added, changed)
    return figures


def _rows(path: Path, name: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"select rowid, * from {name}").fetchall()
    finally:
        conn.close()


def _counts(path: Path) -> dict[str, int]:
    return {name: len(_rows(path, name)) for name in NAMES}


def _unheld_overflow_pages(
    snapshot: Path, scratch: Path, root: int, intervals: list[tuple[int, int]]
) -> list[int]:
    """Overflow pages of the snapshot's rows within `intervals` (of the table b-tree at
    `root`) that the scratch file does not hold with the snapshot's bytes."""
    data, held = snapshot.read_bytes(), scratch.read_bytes()
    usable = PAGE - data[20]

    def page(number: int) -> bytes:
        return data[(number - 1) * PAGE : number * PAGE]

    missing, waiting = [], [root]
    while waiting:
        tree = table_page(page(waiting.pop()), 0)
        if tree.interior:
            waiting.extend(tree.children())
            continue
        heads = dict(
            zip(
                (c for c in tree.cells if _payload(tree.data, c) > usable - 35),
                overflow_heads(tree, usable),
                strict=True,
            )
        )
        for cell, (first, count) in heads.items():
            rowid = read_varint(tree.data, read_varint(tree.data, cell)[1])[0]
            if not any(low <= rowid <= high for low, high in intervals):
                continue
            number = first
            for _ in range(count):
                at = (number - 1) * PAGE
                if held[at : at + PAGE] != page(number):
                    missing.append(number)
                number = next_overflow(page(number))
    return missing


def _payload(data: bytes, cell: int) -> int:
    return read_varint(data, cell)[0]


def _root(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute("select rootpage from sqlite_schema where name = ?", (name,)).fetchone()[0]
        )
    finally:
        conn.close()


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_give_the_brute_force_figures(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    snapshot, live, scratch = tmp_path / "snap.db", tmp_path / "live.db", tmp_path / "scratch.db"
    _random_db(snapshot, rng)
    shutil.copyfile(snapshot, live)
    _random_history(live, rng)
    plan = _plan(snapshot, live, scratch, frozenset(NAMES))
    assert plan is not None, "every table is matched on its rowid"
    expected = _brute(snapshot, live)
    for known in (None, _counts(snapshot)):
        quick = diff_databases(
            scratch,
            live,
            unchanged=frozenset(plan.unchanged),
            intervals=plan.intervals,
            snapshot_counts=known,
        )
        assert _figures(quick) == expected
    for name, intervals in plan.intervals.items():
        assert not _unheld_overflow_pages(snapshot, scratch, _root(snapshot, name), intervals)


def test_a_zeroed_overflow_page_is_not_caught_by_sqlite(tmp_path: Path) -> None:
    """Why the overflow pages above are checked one by one: a plan that left out a row's
    last overflow page would not be stopped by SQLite (the page reads as the end of the
    chain, the row's tail as zeros): the figure would be wrong, not refused."""
    rng = random.Random(4)
    snapshot, live, scratch = tmp_path / "snap.db", tmp_path / "live.db", tmp_path / "scratch.db"
    _build(snapshot, rng)
    shutil.copyfile(snapshot, live)
    _change(live, rng, "updates")
    plan = _plan(snapshot, live, scratch)
    assert plan is not None
    intervals = plan.intervals["t"]
    data = snapshot.read_bytes()
    lasts = _last_overflow_pages(data, _root(snapshot, "t"), intervals)
    differing = _differing(snapshot, live)
    same = {r[0]: r for r in _rows(snapshot, "t")}.items() & {
        r[0]: r for r in _rows(live, "t")
    }.items()
    unchanged = {rowid for rowid, _ in same}
    # the last overflow page of a row within the intervals that live holds unchanged
    victim = next(n for rowid, n in lasts if rowid in unchanged and n not in differing)
    with open(scratch, "r+b") as file:
        file.seek((victim - 1) * PAGE)
        file.write(bytes(PAGE))
    quick = diff_databases(
        scratch, live, unchanged=frozenset(plan.unchanged), intervals=plan.intervals
    )
    assert _figures(quick)["t"][4] == _figures(diff_databases(snapshot, live))["t"][4] + 1


def _last_overflow_pages(
    data: bytes, root: int, intervals: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """(rowid, last overflow page) of each row within `intervals` that overflows."""
    usable = PAGE - data[20]
    found, waiting = [], [root]
    while waiting:
        tree = table_page(data[(waiting[-1] - 1) * PAGE : waiting.pop() * PAGE], 0)
        if tree.interior:
            waiting.extend(tree.children())
            continue
        for cell, (first, count) in zip(
            (c for c in tree.cells if _payload(tree.data, c) > usable - 35),
            overflow_heads(tree, usable),
            strict=True,
        ):
            rowid = read_varint(tree.data, read_varint(tree.data, cell)[1])[0]
            if any(low <= rowid <= high for low, high in intervals):
                number = first
                for _ in range(count - 1):
                    number = next_overflow(data[(number - 1) * PAGE : number * PAGE])
                found.append((rowid, number))
    return found
