"""Service.browse_point against a brute-force reference: every page of every kind of
table (INTEGER PRIMARY KEY, a rowid table keyed by a TEXT PRIMARY KEY, no primary key,
WITHOUT ROWID with a composite key), read in order, out of order (from the far end once
counted) and after a search, is exactly the rows sqlite3 reads from the same database;
the keys name the rows; a search takes quotes, % and _ as text; the live row is read by
the same key."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from lifeboat.foundation.errors import NotFound
from lifeboat.service import Service
from lifeboat.service.point_browse import PointBrowser, TableInfo

TABLES = {
    "plain": "create table plain(id integer primary key, name text, n real)",
    "named": "create table named(code text primary key, name text, data blob)",
    "loose": "create table loose(a, b text)",
    "pairs": "create table pairs(x int, y text, v, primary key (x, y)) without rowid",
}


def _fill(db: Path) -> None:
    rng = random.Random(3)
    conn = sqlite3.connect(db, isolation_level=None)
    for sql in TABLES.values():
        conn.execute(sql)
    conn.execute("begin")
    words = ["it's", "50%", "a_b", "plain", "Zeta", "ünï"]
    for i in range(1, 1100):
        word = f"{rng.choice(words)} {i}"
        conn.execute("insert into plain values (?, ?, ?)", (i * 3, word, i / 7))
        conn.execute("insert into named values (?, ?, ?)", (f"c{i:05}", word, bytes([i % 256])))
        conn.execute("insert into loose values (?, ?)", (i if i % 5 else None, word))
        conn.execute("insert into pairs values (?, ?, ?)", (i % 17, f"y{i}", word))
    conn.execute("delete from plain where id % 11 = 0")  # gaps in the rowids
    conn.execute("commit")
    conn.close()


@pytest.fixture
def browser(home: Path, tmp_path: Path):
    db = tmp_path / "mixed.db"
    _fill(db)
    service = Service()
    service.add_source(db, name="mixed", schedule="manual")
    service.backup("mixed")
    opened = service.browse_point("mixed")
    yield opened, db, service
    opened.close()


def _reference(db: Path, info: TableInfo, where: str = "1") -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        order = "rowid" if info.has_rowid else ", ".join(info.key)
        return conn.execute(
            f'select * from "{info.name}" where {where} order by {order}'
        ).fetchall()
    finally:
        conn.close()


def _pages(browser: PointBrowser, table: str, order: list[int], search: str = "") -> list:
    got: dict[int, list[tuple[object, ...]]] = {}
    for offset in order:
        got[offset] = browser.page(table, offset, 100, search).rows
    return [row for offset in sorted(got) for row in got[offset]]


def test_every_page_of_every_kind_of_table_is_the_reference(browser):
    opened, db, service = browser
    infos = {t.name: t for t in opened.tables()}
    assert set(infos) == set(TABLES)
    assert infos["plain"].key == () and infos["named"].key == ("code",)
    assert infos["loose"].key == () and infos["pairs"].key == ("x", "y")
    assert not infos["pairs"].has_rowid
    for name, info in infos.items():
        want = _reference(db, info)
        offsets = list(range(0, len(want) + 100, 100))
        assert _pages(opened, name, offsets) == want, f"{name} in order"
        assert opened.count(name) == len(want)
        shuffled = offsets[:]
        random.Random(len(name)).shuffle(shuffled)
        fresh = service.browse_point("mixed")  # no page read yet: none starts after another
        try:
            assert _pages(fresh, name, shuffled[:3]) == _pages(opened, name, sorted(shuffled[:3]))
            fresh.count(name)  # counted: a page in the latter half is found from the end
            assert _pages(fresh, name, shuffled) == want, f"{name} out of order"
        finally:
            fresh.close()


def test_search_matches_text_literally_and_the_counts_agree(browser):
    opened, db, _ = browser
    info = opened.table("plain")
    for text, like in (("it's", "it''s"), ("50%", "50\\%"), ("a_b", "a\\_b"), ("ZETA", "zeta")):
        want = _reference(db, info, f"name like '%{like}%' escape '\\'")
        assert want, text
        assert opened.count("plain", text) == len(want)
        offsets = list(range(0, len(want) + 100, 100))
        assert _pages(opened, "plain", offsets[::-1], text) == want


def test_keys_name_the_rows_for_live_and_for_a_merge(browser):
    opened, db, _ = browser
    for name in TABLES:
        info = opened.table(name)
        page = opened.page(name, 300, 5)
        for key, values in zip(page.keys, page.rows, strict=True):
            live = opened.live_row(name, key)
            assert live.values is not None
            assert tuple(live.values[c] for c in info.columns) == values
        conn = sqlite3.connect(db)
        try:
            where = info.key_condition(page.keys)
            assert conn.execute(f'select count(*) from "{name}" where {where}').fetchone() == (5,)
        finally:
            conn.close()
    conn = sqlite3.connect(db)
    conn.execute("drop table loose")
    conn.commit()
    conn.close()
    with pytest.raises(NotFound, match="no table loose any more"):
        opened.live_row("loose", (1,))


class _CountedPages:
    """The pages SQLite asks the point for (below its own page cache), counted."""

    def __init__(self, inner) -> None:
        self.inner, self.asked = inner, 0
        self.page_size, self.page_count = inner.page_size, inner.page_count

    def page(self, number: int) -> bytes:
        self.asked += 1
        return self.inner.page(number)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("holes", [False, True], ids=["dense", "with-holes"])
def test_a_jump_into_a_large_table_reads_no_page_before_it(home: Path, tmp_path: Path, holes: bool):
    """Row n of a table whose rowids have no holes is rowid first + n: the page is read
    straight from its rowid (two b-tree descents), not after counting every row before
    it. With holes, a page near one read before is counted to from that one."""
    db = tmp_path / "big.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table big(id integer primary key, body blob)")
    conn.execute("begin")
    conn.executemany("insert into big values (?, randomblob(900))", ((i,) for i in range(1, 8001)))
    if holes:
        conn.execute("delete from big where id % 97 = 0")
    conn.execute("commit")
    ids = [r[0] for r in conn.execute("select id from big order by id")]
    conn.close()
    service = Service()
    service.add_source(db, name="big", schedule="manual")
    service.backup("big")
    opened = service.browse_point("big")
    try:
        counted = _CountedPages(opened.point.pages)
        opened.point.pages = counted  # what the point's SQLite file reads from
        total = opened.count("big")
        assert total == len(ids)
        middle = total // 2
        if holes:  # a page read there first: the jump lands near it
            opened.page("big", middle - 300, 100)
        before = counted.asked
        page = opened.page("big", middle, 100)
        assert [k[0] for k in page.keys] == ids[middle : middle + 100]
        # ~900-byte rows: 100 of them are about 25 pages; the 4,000 rows before the
        # middle are about 1,000 pages, which counting rowids from the start would read
        # (beyond the few SQLite's own cache still holds from the count).
        assert counted.asked - before < 150, counted.asked - before
        back = opened.page("big", 100, 100)  # and back near the start: right too
        assert [k[0] for k in back.keys] == ids[100:200]
    finally:
        opened.close()
