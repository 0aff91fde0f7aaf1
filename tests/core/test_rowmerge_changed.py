"""A row merge whose past holds only the rows of the snapshot pages that changed
(core/rowmerge_changed_rows) does exactly what the merge from the whole past does, and
what the brute-force reference says: rowid, text and composite WITHOUT ROWID keys,
overflow rows, columns added since, pages freed by a large delete; and it is not used
where it cannot be proven (no key, --where, a table mostly changed)."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.pagediff import page_hashes_of
from lifeboat.core.rowmerge_changed_rows import write_changed_rows
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.foundation.progress import CancelToken
from tests.core.test_rowmerge import merge, plan, reference, rows_of


class FilePages:
    """The pages of a database file (what a snapshot's PointPages gives)."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.page_size = int.from_bytes(self.data[16:18], "big")
        self.page_count = len(self.data) // self.page_size

    def page(self, number: int) -> bytes:
        at = (number - 1) * self.page_size
        return self.data[at : at + self.page_size]

    def close(self) -> None:
        pass


TABLES = {
    "int_key": ("create table t(id integer primary key, a text, b int)", (0,)),
    "text_key": ("create table t(name text primary key, a text, b int)", (0,)),
    "pair_key": (
        "create table t(x text, y int, a text, b int, primary key (y, x)) without rowid",
        (1, 0),
    ),
}


def _row(table: str, i: int, rng: random.Random, big: bool) -> tuple[object, ...]:
    a = "é" * 3000 + str(i) if big and i % 9 == 0 else rng.choice(["x" * 150, "ü" * 90, None])
    if table == "int_key":
        return (i, a, rng.randrange(100))
    if table == "text_key":
        return (f"n{i:05d}", a, rng.randrange(100))
    return (f"x{i % 7}", i // 7, a, rng.randrange(100))


def _make(path: Path, table: str, rows: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(TABLES[table][0])
    conn.executemany(f"insert into t values ({', '.join('?' for _ in rows[0])})", rows)
    conn.commit()
    conn.close()


def _run(path: Path, *sql: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sql:
        conn.execute(statement, params if "?" in statement else ())
    conn.close()


def _partial(
    past: Path, live: Path, request: MergeRequest, out: Path, *, checkpoint: bool = False
) -> bool:
    pages = FilePages(past)
    listed = page_hashes_of(memoryview(pages.data), pages.page_size)
    return write_changed_rows(
        pages, listed, live, request, out, CancelToken(), checkpoint=checkpoint
    )


def _same_merge(tmp_path: Path, past: Path, live: Path, request: MergeRequest) -> bool:
    """Merge from the changed rows and, on a copy, from the whole past: the same plan
    and the same rows after. Whether the changed rows were used."""
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "changed.db"
    used = _partial(past, live, request, out)
    other = tmp_path / "other-live.db"
    shutil.copyfile(live, other)
    whole = plan(other, past, request)
    done, _, _ = merge(other, past, request, whole)
    if used:
        preview = plan(live, out, request)
        assert preview == whole
        merged, _, _ = merge(live, out, request, preview)
        assert merged == done
        assert rows_of(live, "t") == rows_of(other, "t")
    else:
        assert not out.exists()
        shutil.copyfile(other, live)
    return used


REQUESTS = [
    MergeRequest("t"),
    MergeRequest("t", prefer_past=True),
    MergeRequest("t", mode="deleted"),
    MergeRequest("t", mode="changed"),
]


def _key_match(table: str, row: tuple[object, ...]) -> tuple[str, tuple[object, ...]]:
    if table == "pair_key":
        return "y = ? and x = ?", (row[1], row[0])
    return ("id = ?" if table == "int_key" else "name = ?"), (row[0],)


def _mutated(live: Path, table: str, rows: list[tuple[object, ...]], rng: random.Random) -> None:
    """Rows deleted and changed spread over the table, one added."""
    for row in rows[::397]:
        match, params = _key_match(table, row)
        _run(live, f"delete from t where {match}", params=params)
    for row in rows[50::531]:
        match, params = _key_match(table, row)
        _run(live, f"update t set b = b + 1000 where {match}", params=params)
    added = ("new", 9001, "z", 1) if table == "pair_key" else _row(table, 9001, rng, False)
    _run(live, f"insert into t values ({', '.join('?' for _ in added)})", params=added)


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize("which", range(len(REQUESTS)))
@pytest.mark.parametrize("big", [False, True], ids=["small-rows", "overflow-rows"])
def test_the_changed_rows_merge_equals_the_whole_past_and_the_reference(
    tmp_path: Path, table: str, which: int, big: bool
):
    rng = random.Random(which * 10 + len(table))
    rows = [_row(table, i, rng, big) for i in range(1, 4001)]
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _make(past, table, rows)
    shutil.copyfile(past, live)
    _mutated(live, table, rows, rng)
    live_rows = list(rows_of(live, "t"))
    request = REQUESTS[which]
    expected = reference(rows, live_rows, TABLES[table][1], request)
    assert _same_merge(tmp_path, past, live, request), "the changed rows were used"
    assert rows_of(live, "t") == expected


def _notes(path: Path, count: int = 4000, sql: str = TABLES["int_key"][0]) -> None:
    rng = random.Random(7)
    _make(path, "int_key", [_row("int_key", i, rng, True) for i in range(1, count + 1)])


def test_columns_added_since_and_records_older_than_a_column_come_back_as_sqlite_reads_them(
    tmp_path: Path,
):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _notes(past)
    # rows written before the column was added have shorter records: SQLite reads the
    # default for them
    _run(past, "alter table t add column c text default 'then'")
    _run(past, "insert into t(id, a, b, c) values (5000, 'late', 1, 'set')")
    shutil.copyfile(past, live)
    _run(live, "alter table t add column d int default 7")
    _run(live, "delete from t where id % 401 = 0 or id = 5000")
    _run(live, "update t set a = 'edited' where id % 613 = 0")
    for which, request in enumerate((MergeRequest("t"), MergeRequest("t", prefer_past=True))):
        each = tmp_path / f"live-{which}.db"
        shutil.copyfile(live, each)
        assert _same_merge(tmp_path / f"{which}", past, each, request)
        conn = sqlite3.connect(each)
        back = conn.execute("select c, d from t where id in (401, 5000)").fetchall()
        conn.close()
        assert sorted(back) == [("set", 7), ("then", 7)]


def test_pages_freed_by_a_large_delete_are_not_taken_for_live_rows(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _notes(past, 8000)
    shutil.copyfile(past, live)
    # a block of rows gone: their pages go to the freelist with their old cells
    _run(live, "delete from t where id between 3000 and 3300")
    request = MergeRequest("t", mode="deleted")
    _same_merge(tmp_path, past, live, request)
    count = sqlite3.connect(live).execute("select count(*) from t").fetchone()
    assert count == (8000,)


def test_an_overflow_chain_changed_under_an_unchanged_leaf_is_compared(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _notes(past)
    shutil.copyfile(past, live)
    # the same length, another tail: SQLite may write the new chain on the same pages
    _run(
        live,
        "update t set a = substr(a, 1, 2000) || replace(substr(a, 2001), 'é', 'è') where id = 900",
    )
    _run(live, "delete from t where id = 1801")
    request = MergeRequest("t", prefer_past=True)
    # a differing page that is an overflow page in live: the rule cannot be shown
    assert not _same_merge(tmp_path, past, live, request)
    row = sqlite3.connect(live).execute("select a from t where id = 900").fetchone()
    assert row == ("é" * 3000 + "900",)


def test_it_is_not_used_where_it_cannot_be_proven_or_would_not_pay(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    rng = random.Random(3)
    conn = sqlite3.connect(past)
    conn.execute("create table t(p text, a text, b int)")  # no key: whole rows
    conn.executemany(
        "insert into t values (?, ?, ?)", [(f"p{i}", "x" * 150, i) for i in range(4000)]
    )
    conn.commit()
    conn.close()
    shutil.copyfile(past, live)
    _run(live, "delete from t where b % 500 = 0")
    assert not _same_merge(tmp_path, past, live, MergeRequest("t"))
    _notes(past2 := tmp_path / "past2.db")
    shutil.copyfile(past2, live2 := tmp_path / "live2.db")
    _run(live2, "delete from t where id % 400 = 0")
    assert not _same_merge(tmp_path, past2, live2, MergeRequest("t", where="id > 10"))
    _run(live2, "update t set b = b + 1 where id % 3 = 0")  # most pages changed
    assert not _same_merge(tmp_path, past2, live2, MergeRequest("t"))
    del rng


@pytest.mark.parametrize("checkpoint", [True, False], ids=["merge", "preview"])
def test_a_live_file_a_writer_keeps_changing_is_frozen_for_the_changed_rows(
    tmp_path: Path, writer_process, checkpoint: bool
):
    """A commit every 2 ms keeps WAL frames outstanding: for a merge the file is frozen
    under this process's write lock for a moment; a preview reads the frames where they
    are (it never checkpoints the app's file). The rows read are the snapshot's exactly."""
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _notes(past)
    _run(past, "create table items(id integer primary key, name text, payload blob)")
    shutil.copyfile(past, live)
    _run(live, "pragma journal_mode=wal", "delete from t where id % 401 = 0")
    writer = writer_process(live, 0.002)
    out = tmp_path / "changed.db"
    try:
        assert _partial(past, live, MergeRequest("t"), out, checkpoint=checkpoint)
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    conn = sqlite3.connect(out)
    conn.execute("attach ? as past", (str(past),))
    read = conn.execute("select * from t").fetchall()
    assert {r[0] for r in read} >= {i for i in range(401, 4001, 401)}
    assert (
        read
        == conn.execute(
            f"select * from past.t where id in ({', '.join(str(r[0]) for r in read)})"
        ).fetchall()
    )
    (then,) = conn.execute("select past_rows from lifeboat_changed_rows_only").fetchone()
    assert then == 4000
    conn.close()


def test_a_changed_page_that_is_not_what_the_tree_says_leaves_nothing_and_falls_back(
    tmp_path: Path,
):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _notes(past)
    shutil.copyfile(past, live)
    _run(live, "delete from t where id = 1201")
    assert _partial(past, live, MergeRequest("t"), tmp_path / "sound.db"), "undamaged: used"
    pages = FilePages(past)
    conn = sqlite3.connect(past)
    (leaf,) = conn.execute(
        "select pageno from dbstat where name = 't' and pagetype = 'leaf' limit 1 offset 40"
    ).fetchone()
    conn.close()
    damaged = bytearray(pages.data)
    damaged[(leaf - 1) * pages.page_size] = 0x00  # no longer a b-tree page
    pages.data = bytes(damaged)
    live_bytes = bytearray(live.read_bytes())  # and the live page differs from it
    listed = page_hashes_of(memoryview(pages.data), pages.page_size)
    out = tmp_path / "changed.db"
    request = MergeRequest("t")
    assert not write_changed_rows(
        pages, listed, live, request, out, CancelToken(), checkpoint=False
    )
    assert not out.exists()
    assert live.read_bytes() == bytes(live_bytes), "the live file is only read"


_SWAPPED = {
    "int_key": ("b", "c"),
    "pair_key": ("a", "b"),
}


@pytest.mark.parametrize("table", sorted(_SWAPPED))
def test_columns_swapped_by_renames_are_not_taken_for_unchanged_rows(tmp_path: Path, table: str):
    """Renaming two columns into each other's names changes no table page: the records
    are the same bytes, but each field is now read as the other column. Compared by
    column names (the whole past, the reference), almost every row differs."""
    rng = random.Random(3)
    rows = [_row(table, i, rng, False) for i in range(1, 4001)]
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _make(past, table, rows)
    if table == "int_key":
        _run(past, "alter table t add column c int default 0", "update t set c = id")
        rows = [(*row, row[0]) for row in rows]
    shutil.copyfile(past, live)
    one, other = _SWAPPED[table]
    _run(
        live,
        f"alter table t rename column {one} to swap_tmp",
        f"alter table t rename column {other} to {one}",
        f"alter table t rename column swap_tmp to {other}",
    )
    _run(
        live,
        "delete from t where rowid in (select rowid from t limit 1 offset 700)"
        if table == "int_key"
        else "delete from t where y = 100",
    )
    request = MergeRequest("t", prefer_past=True)
    _same_merge(tmp_path, past, live, request)


def test_a_column_added_again_with_another_default_is_not_taken_for_unchanged_rows(
    tmp_path: Path,
):
    """Records written before a column was added lack its field and read its default.
    Dropped and added again with another default, the column reads otherwise in every
    such row, while DROP COLUMN rewrote most of their pages with the same bytes."""
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _make(past, "int_key", [(i, "x" * 600, i % 100) for i in range(1, 4001)])
    _run(past, "alter table t add column c text default 'then'")
    shutil.copyfile(past, live)
    _run(live, "alter table t drop column c", "alter table t add column c text default 'now'")
    _run(live, "delete from t where id = 7")
    _same_merge(tmp_path, past, live, MergeRequest("t", prefer_past=True))
    back = sqlite3.connect(live).execute("select count(*) from t where c = 'then'").fetchone()
    assert back == (4000,)


@pytest.mark.parametrize("first", [0, 3, 700])
@pytest.mark.parametrize("listed_pages", [0, 5, 600, 1000, 1500])
def test_the_pages_found_differing_are_those_a_page_by_page_comparison_finds(
    first: int, listed_pages: int
):
    from lifeboat.core.rowmerge_changed import _add_differing

    rng = random.Random(first * 7919 + listed_pages)
    listed = bytearray(rng.randbytes(16 * listed_pages))
    hashes = bytearray(listed[16 * first : 16 * (first + 800)])
    hashes += rng.randbytes(16 * 800 - len(hashes))  # pages past the list's end
    for page in rng.sample(range(800), 40):  # one word of a hash, or the other, differs
        at = 16 * page + rng.choice((0, 8, 15))
        hashes[at] ^= 1
    found: set[int] = set()
    _add_differing(found, bytes(hashes), bytes(listed), first)
    expected = {
        first + n + 1
        for n in range(800)
        if listed[16 * (first + n) : 16 * (first + n + 1)] != hashes[16 * n : 16 * (n + 1)]
    }
    assert found == expected
