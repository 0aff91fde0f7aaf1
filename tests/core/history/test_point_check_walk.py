"""The narrowed point check with our walk of the touched b-trees (core/history/
tree_pages.py): a touched b-tree our walk cannot follow (a chain cut short or running on
into an untouched b-tree, a child beyond the file, a cycle) is refused by SQLite's own
check, never passed, never called damaged by the walk; a point shaped like the
continuous bench's hour (one table, about 28% of the file, written) takes the narrowed
path."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.core.history.owners_file import base_owners
from lifeboat.core.history.point_check import _MOST
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.history.helpers import make_capture
from tests.core.history.test_point_check import _PAGE, _base_bytes
from tests.core.history.test_point_check_narrowed import (
    _TYPICAL,
    _app_database,
    _changed_by,
    _leaf_of,
    _narrowed,
    _overflow_pointer,
)

Pages = dict[int, bytes]


def _point_file(base_bytes: bytes, pages: Pages, count: int, path: Path) -> bytearray:
    point = bytearray(base_bytes[: count * _PAGE].ljust(count * _PAGE, b"\0"))
    for number, data in pages.items():
        point[(number - 1) * _PAGE : number * _PAGE] = data
    path.write_bytes(bytes(point))
    return point


def _page_of(point: bytearray, number: int) -> bytearray:
    return bytearray(point[(number - 1) * _PAGE : number * _PAGE])


def _chain_of_row_3(path: Path, point: bytearray) -> list[int]:
    """The overflow chain of `items` row 3 (9000 bytes: two pages)."""
    leaf, cell = _leaf_of(path, "items", 3)
    _, page = _overflow_pointer(bytes(_page_of(point, leaf)), cell)
    chain = [page]
    while len(chain) < 2:
        chain.append(int.from_bytes(_page_of(point, chain[-1])[:4], "big"))
    return chain


def _cut_short(path: Path, point: bytearray, pages: Pages) -> None:
    first = _chain_of_row_3(path, point)[0]
    data = _page_of(point, first)
    data[0:4] = bytes(4)
    pages[first] = bytes(data)


def _run_on_into_an_untouched_tree(path: Path, point: bytearray, pages: Pages) -> None:
    last = _chain_of_row_3(path, point)[-1]
    theirs, _ = _leaf_of(path, "other", 2)
    data = _page_of(point, last)
    data[0:4] = theirs.to_bytes(4, "big")
    pages[last] = bytes(data)


def _items_root(path: Path, point: bytearray) -> tuple[int, bytearray, int]:
    conn = sqlite3.connect(path)
    try:
        ((root,),) = conn.execute("select rootpage from sqlite_schema where name = 'items'")
    finally:
        conn.close()
    data = _page_of(point, root)
    assert data[0] == 5  # an interior table page
    return root, data, int.from_bytes(data[12:14], "big")


def _child_beyond_the_file(path: Path, point: bytearray, pages: Pages) -> None:
    root, data, at = _items_root(path, point)
    data[at : at + 4] = (len(point) // _PAGE + 7).to_bytes(4, "big")
    pages[root] = bytes(data)


def _cycle(path: Path, point: bytearray, pages: Pages) -> None:
    root, data, at = _items_root(path, point)
    data[at : at + 4] = root.to_bytes(4, "big")
    pages[root] = bytes(data)


@pytest.mark.parametrize(
    "damage", [_cut_short, _run_on_into_an_untouched_tree, _child_beyond_the_file, _cycle]
)
def test_a_touched_tree_the_walk_cannot_follow_is_refused_by_sqlite(
    tmp_path: Path, damage: Callable[[Path, bytearray, Pages], None]
):
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = capture.take_base()
    sql = [*_TYPICAL, "update items set v = randomblob(9000) where id = 3"]
    pages, count = _changed_by(capture, base, sql)
    path = tmp_path / "point.db"
    point = _point_file(_base_bytes(capture, base), pages, count, path)
    damage(path, point, pages)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None or not narrowed.ok  # never a pass
    assert isinstance(refused, CorruptSnapshot) and "fails its integrity check" in str(refused)


def _bench_shaped(tmp_path: Path) -> Path:
    """As continuous_bench's database: tables the hour leaves alone, and the writer's
    table (in the base, nearly empty) which the hour fills with 3000-byte rows."""
    db = tmp_path / "bench.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table notes(id integer primary key, title text, body text)")
    conn.execute("create index notes_title on notes(title)")
    conn.execute("create table writer_log(id integer primary key, at real, payload blob)")
    conn.execute("begin")
    conn.executemany(
        "insert into notes values (?, ?, ?)",
        [(k, f"note {k * 7919 % 1000}", "words " * (50 + k % 400)) for k in range(1, 3000)],
    )
    conn.execute("commit")
    conn.execute("insert into writer_log values (1, 0, randomblob(3000))")
    conn.close()
    return db


def test_a_point_shaped_like_the_benchs_hour_takes_the_narrowed_check(tmp_path: Path):
    """One table written, about 28% of the file at the point (the bench's hour at
    1 GiB): checked by SQLite on that table alone, with the accounting from our walk."""
    capture = make_capture(tmp_path, _bench_shaped(tmp_path))
    base = capture.take_base()
    owners = base_owners(base)
    assert owners is not None
    rows = int(owners.page_count * 0.28 / 0.72)  # a row a page: 28% of the file after
    insert = (
        f"with recursive n(x) as (select 1 union all select x + 1 from n where x < {rows}) "
        "insert into writer_log(at, payload) select x, randomblob(3000) from n"
    )
    pages, count = _changed_by(capture, base, [insert])
    path = tmp_path / "point.db"
    _point_file(_base_bytes(capture, base), pages, count, path)
    conn = sqlite3.connect(path)
    (written,) = conn.execute("select count(*) from dbstat where name = 'writer_log'").fetchone()
    conn.close()
    assert 0.25 < written / count < _MOST
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert refused is None
    assert narrowed is not None and narrowed.ok


def test_a_point_writing_index_shaped_trees_with_long_keys_takes_the_narrowed_check(
    tmp_path: Path,
):
    """A WITHOUT ROWID table and an index whose keys overflow from interior cells too
    (the b-tree kinds a rowid table never shows the walk), written in the hour: the
    walk follows them as SQLite does, the point passes narrowed, nothing is called
    damaged."""
    db = tmp_path / "keys.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table other(id integer primary key, v blob)")
    conn.execute("create table kv(k text primary key, v blob) without rowid")
    conn.execute("create table tags(id integer primary key, tag text)")
    conn.execute("create index tags_tag on tags(tag)")
    conn.execute("begin")
    conn.executemany("insert into other values (?, randomblob(3000))", [(k,) for k in range(900)])
    conn.executemany(
        "insert into kv values (?, randomblob(?))",
        [(f"{k:05}" * (1 + k % 700), 10 + k % 3 * 4000) for k in range(300)],
    )
    conn.executemany("insert into tags values (?, ?)", [(k, f"{k:05}" * 400) for k in range(200)])
    conn.execute("commit")
    conn.close()
    capture = make_capture(tmp_path, db)
    base = capture.take_base()
    sql = [
        "insert into kv values ('z' || hex(randomblob(1500)), randomblob(5000))",
        "delete from kv where k like '00007%'",
        "update tags set tag = tag || 'x' where id % 17 = 0",
    ]
    pages, count = _changed_by(capture, base, sql)
    path = tmp_path / "point.db"
    _point_file(_base_bytes(capture, base), pages, count, path)
    for name in ("kv", "tags_tag"):  # overflow chains hanging from interior cells
        assert _interior_overflow(path, name), name
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert refused is None
    assert narrowed is not None and narrowed.ok


def _interior_overflow(path: Path, name: str) -> int:
    """How many overflow pages of b-tree `name` belong to cells of interior pages
    (dbstat's path of an overflow page: its cell's page's path, the cell, `+`...)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("select pagetype, path from dbstat where name = ?", (name,))
        kinds = dict((path, kind) for kind, path in rows)
    finally:
        conn.close()
    return sum(
        1
        for at, kind in kinds.items()
        if kind == "overflow" and kinds[at[: at.rindex("/") + 1]] == "internal"
    )
