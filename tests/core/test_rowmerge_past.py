"""The past side of a merge written as only the merged table's pages: the merge planned
and applied from that sparse file equals the one from the whole past (a text key found
through its index, rows long enough to overflow, a composite key WITHOUT ROWID, a
--where on an indexed column), the other tables' pages are holes, and a table that is
most of the database is left to the whole copy."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.point_pages import FilePages
from lifeboat.core.rowmerge import connect_merge, plan_merge
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_past import write_table_pages
from lifeboat.core.rowmerge_records import MergeRequest

PAGE = 4096


def _past(path: Path, *, wal: bool) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={PAGE}")
    if wal:
        conn.execute("pragma journal_mode=wal")
    conn.execute("create table big(id integer primary key, blob blob)")
    conn.execute("create table notes(title text primary key, body text, tag text)")
    conn.execute("create index notes_tag on notes(tag)")
    conn.execute("create table pairs(a text, b int, v text, primary key (a, b)) without rowid")
    conn.execute("begin")
    conn.executemany("insert into big(blob) values (?)", [(os.urandom(3000),) for _ in range(400)])
    for i in range(60):
        body = ("long " * 3000) if i % 10 == 0 else f"body {i}"  # some rows overflow
        conn.execute("insert into notes values (?, ?, ?)", (f"t{i}", body, f"g{i % 4}"))
        conn.execute("insert into pairs values (?, ?, ?)", (f"a{i % 5}", i, "x" * (i * 50)))
    conn.execute("commit")
    if wal:
        conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return path


def _live(past: Path, live: Path) -> Path:
    shutil.copyfile(past, live)
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("delete from notes where rowid % 3 = 0")
    conn.execute("update notes set body = 'edited' where rowid % 5 = 0")
    conn.execute("delete from pairs where b % 4 = 0")
    conn.execute("update pairs set v = 'new' where b % 7 = 0")
    conn.execute("insert into notes values ('added', 'x', 'g9')")
    conn.close()
    return live


def _sparse(past: Path, table: str, out: Path) -> bool:
    size = past.stat().st_size
    pages = FilePages(past, PAGE, size // PAGE, owned=False)
    try:
        return write_table_pages(pages, table, out)
    finally:
        pages.close()


def _merged(live: Path, past: Path, request: MergeRequest) -> tuple[object, list[tuple]]:
    conn = connect_merge(live, past, 5)
    try:
        plan = plan_merge(conn, request)
        conn.execute("BEGIN IMMEDIATE")
        apply_merge(conn, request, plan)
        conn.execute("COMMIT")
        table = request.table
        rows = conn.execute(f"select * from main.{table} order by 1, 2").fetchall()
    finally:
        conn.close()
    return plan, rows


REQUESTS = [
    MergeRequest("notes", prefer_past=True, show_rows=3),
    MergeRequest("NOTES", where="tag = 'g1'"),
    MergeRequest("pairs", prefer_past=True),
    MergeRequest("pairs", mode="deleted", where="a = 'a2'"),
]


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback"])
@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.table}-{r.where or r.mode}")
def test_a_merge_from_the_tables_pages_equals_one_from_the_whole_past(
    tmp_path: Path, wal: bool, request_: MergeRequest
):
    past = _past(tmp_path / "past.db", wal=wal)
    sparse = tmp_path / "sparse.db"
    assert _sparse(past, request_.table, sparse)
    whole = _merged(_live(past, tmp_path / "a.db"), past, request_)
    from_pages = _merged(_live(past, tmp_path / "b.db"), sparse, request_)
    assert from_pages == whole
    assert whole[0].to_insert > 0  # type: ignore[attr-defined]  # a MergePlan
    # the other tables' pages were never written: the sparse file holds holes there
    conn = sqlite3.connect(past)
    (root,) = conn.execute("select rootpage from sqlite_master where name = 'big'").fetchone()
    conn.close()
    with open(sparse, "rb") as fh:
        fh.seek((root - 1) * PAGE)
        assert fh.read(PAGE) == bytes(PAGE)


def test_a_table_that_is_most_of_the_database_is_left_to_the_whole_copy(tmp_path: Path):
    past = _past(tmp_path / "past.db", wal=False)
    out = tmp_path / "sparse.db"
    assert not _sparse(past, "big", out) and not out.exists()
    assert not _sparse(past, "missing", out) and not out.exists()


def test_a_table_whose_overflow_chains_outgrow_the_budget_is_left_to_the_whole_copy(
    tmp_path: Path,
):
    past = _past(tmp_path / "past.db", wal=False)
    conn = sqlite3.connect(past)
    conn.execute("create table blobs(id integer primary key, data blob)")
    conn.executemany("insert into blobs(data) values (?)", [(os.urandom(200_000),)] * 5)
    conn.commit()
    conn.close()
    out = tmp_path / "sparse.db"
    assert not _sparse(past, "blobs", out)
    assert not out.exists(), "its own incomplete file is removed"
