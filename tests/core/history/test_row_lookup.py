"""read_row finds one row from page images as SQLite itself reads it: rowid tables,
INTEGER PRIMARY KEY, text primary keys through their index, WITHOUT ROWID tables with
composite and descending keys, NOCASE keys, overflowing rows, columns added later; and
it reads only the pages on the row's way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from lifeboat.core.history.row_lookup import KeyMismatch, KeySpec, compare, read_row


class FilePages:
    """A database file's pages (the reference: what SQLite wrote)."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.size = int.from_bytes(self.data[16:18], "big")
        self.page_count = len(self.data) // self.size

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        return {
            n: self.data[(n - 1) * self.size : n * self.size]
            for n in wanted
            if 1 <= n <= self.page_count
        }


def _db(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma page_size=1024")
    conn.execute(
        "create temp table numbers as with recursive n(value) as"
        " (select 1 union all select value + 1 from n where value < 4000) select value from n"
    )
    for sql in statements:
        conn.execute(sql)
    conn.close()
    return path


def _sqlite_row(path: Path, sql: str, *args: object) -> dict[str, object] | None:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    row = conn.execute(sql, args).fetchone()
    conn.close()
    return dict(row) if row is not None else None


def test_rowid_and_integer_primary_key_rows_equal_sqlites(tmp_path: Path):
    db = _db(
        tmp_path / "a.db",
        "create table items(id integer primary key, name text, body blob, score real)",
        "insert into items(name, body, score) select 'n' || value, randomblob(value % 3000),"
        " value / 7.0 from numbers where value <= 3000",
        "create table plain(a, b)",
        "insert into plain values (1, 'x'), (2, null)",
        "alter table items add column extra text default 'dflt'",
        "insert into items(name, extra) values ('late', 'set')",
    )
    pages = FilePages(db)
    for rowid in (1, 2, 777, 2999, 3000, 3001):
        found = read_row(pages, "items", KeySpec(values=((None, str(rowid)),)))
        assert found.values == _sqlite_row(db, "select * from items where id = ?", rowid)
        assert len(found.watched) < 12  # the way down, the schema and the overflow chain
    assert read_row(pages, "items", KeySpec(rowid=5000)).values is None
    assert read_row(pages, "plain", KeySpec(rowid=2)).values == {"a": 2, "b": None}
    assert not read_row(pages, "nothere", KeySpec(rowid=1)).exists


@pytest.mark.parametrize(
    "create",
    [
        "create table t(a text, b integer, c, primary key(a, b)) without rowid",
        "create table t(a text, b integer, c, primary key(b desc, a)) without rowid",
        "create table t(a text, b integer, c, primary key(a, b))",  # through its index
        "create table t(a text collate nocase, b integer, c, primary key(a, b)) without rowid",
    ],
)
def test_composite_keys_find_the_row_sqlite_finds(tmp_path: Path, create: str):
    db = _db(
        tmp_path / "w.db",
        create,
        "insert into t select 'k' || (value % 97), value, randomblob(value % 900) from numbers",
    )
    pages = FilePages(db)
    for a, b in (("k1", 1), ("k50", 50 + 97 * 30), ("k96", 96 + 97 * 40), ("k3", 5)):
        key = KeySpec(values=(("a", a), ("b", str(b))))
        expected = _sqlite_row(db, "select a, b, c from t where a = ? and b = ?", a, b)
        assert read_row(pages, "t", key).values == expected
    with pytest.raises(KeyMismatch):
        read_row(pages, "t", KeySpec(values=(("a", "k1"),)))


def test_a_text_key_is_typed_as_its_column_stores_it(tmp_path: Path):
    db = _db(
        tmp_path / "t.db",
        "create table c(code text primary key, n int) without rowid",
        "insert into c values ('007', 1), ('7', 2)",
        "create table d(code int primary key, n) without rowid",
        "insert into d values (7, 'seven')",
    )
    pages = FilePages(db)
    assert read_row(pages, "c", KeySpec(values=((None, "007"),))).values == {"code": "007", "n": 1}
    assert read_row(pages, "d", KeySpec(values=(("code", "7"),))).values == {
        "code": 7,
        "n": "seven",
    }


@pytest.mark.parametrize(
    ("a", "b", "desc", "expected"),
    [
        ((None,), (0,), (), -1),
        ((1,), (1.0,), (), 0),
        ((2,), ("1",), (), -1),
        (("b",), (b"a",), (), -1),
        (("a", 2), ("a", 1), (False, True), -1),
        ((3,), (2.5,), (True,), -1),
    ],
)
def test_compare_orders_values_as_sqlite(
    a: tuple[object, ...], b: tuple[object, ...], desc: tuple[bool, ...], expected: int
):
    assert compare(a, b, desc) == expected
