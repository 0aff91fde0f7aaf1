"""Databases that use the application's own collations and functions: checked as far as
SQLite can without the application's code; what it cannot check is listed, never called
damage; real damage still fails."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.dbcheck import check_database
from lifeboat.core.dbdiff import diff_databases
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.core.dbinspect import schema_hash, take_inventory
from lifeboat.core.sqlite_file import open_copy
from lifeboat.jobs.drill import _drill_sql
from tests.helpers.appdb import app_connection, corrupt_page, leaf_pages, make_app_db


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    return make_app_db(tmp_path / "app.db")


def test_sqlite_alone_cannot_check_it(app_db: Path):
    """The issue's starting point: without stand-ins SQLite's own check fails."""
    conn = sqlite3.connect(f"file:{app_db}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match=r"myfn|MYCOLL"):
        conn.execute("pragma quick_check").fetchall()
    conn.close()


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_a_healthy_database_passes_and_says_what_was_not_checked(app_db: Path, mode: str):
    result = check_database(app_db, mode)
    assert result.ok and result.problems == () and result.summary == "ok"
    assert "index notes_title: collation MYCOLL is defined by the application" in result.unchecked
    assert "index t_a: collation MYCOLL is defined by the application" in result.unchecked
    assert "index t_b: function myfn is defined by the application" in result.unchecked
    [table] = [u for u in result.unchecked if u.startswith("table t:")]
    assert "CHECK constraints" in table and "generated column c " in table
    assert " d" not in table.split("use")[0], "d is computed without the application"
    assert not any("plain" in u for u in result.unchecked)
    assert result.described.startswith("ok (not checked: index notes_title")


@pytest.mark.parametrize("table", ["t", "notes", "plain", "t_b"])
@pytest.mark.parametrize("mode", ["quick", "full"])
def test_a_corrupted_page_still_fails(app_db: Path, tmp_path: Path, table: str, mode: str):
    bad = tmp_path / "bad.db"
    shutil.copy(app_db, bad)
    pages = leaf_pages(bad, table)
    corrupt_page(bad, pages[len(pages) // 2])
    result = check_database(bad, mode)
    assert not result.ok
    assert any("page" in p for p in result.problems), result.problems
    assert "\n" not in result.summary


def test_problems_after_the_stand_ins_findings_are_still_found(tmp_path: Path):
    """integrity_check stops after 20 findings; an expression index on a stand-in gives
    one per row. A real problem SQLite only reaches after them is still found."""
    db = make_app_db(
        tmp_path / "app.db",
        before="create table early(id integer primary "
        "key, v text not null); insert into early(v) values ('a');",
    )
    conn = app_connection(db, isolation_level=None)  # a NULL where NOT NULL is declared
    conn.execute("pragma writable_schema=1")
    conn.execute(
        "update sqlite_master set sql = 'CREATE TABLE early(id integer primary "
        "key, v text)' where name = 'early'"
    )
    conn.close()
    conn = app_connection(db, isolation_level=None)
    conn.execute("insert into early(v) values (null)")
    conn.execute("pragma writable_schema=1")
    conn.execute(
        "update sqlite_master set sql = 'CREATE TABLE early(id integer primary "
        "key, v text not null)' where name = 'early'"
    )
    conn.close()
    with open_copy(db) as probe:  # the test's premise: the first 20 findings miss it
        first = [r[0] for r in probe.execute("pragma integrity_check(20)")]
        assert len(first) == 20 and "NULL value in early.v" not in first
    result = check_database(db, "full")
    assert not result.ok and result.problems == ("NULL value in early.v",)
    assert check_database(db, "quick").problems == ("NULL value in early.v",)


def test_a_not_null_generated_column_of_the_application_is_not_checked(tmp_path: Path):
    db = tmp_path / "gen.db"
    conn = app_connection(db, isolation_level=None)
    conn.execute(
        "create table g(id integer primary key, a text, "
        "u text generated always as (myfn(a)) virtual not null)"
    )
    conn.executemany("insert into g(a) values (?)", [(f"v{i}",) for i in range(150)])
    conn.close()
    result = check_database(db, "full")
    assert result.ok, result.problems
    assert (
        "table g: generated column u uses function myfn, defined by the application"
        in result.unchecked
    )


def test_inventory_counts_rows_and_keeps_the_schema_hash(app_db: Path):
    conn = app_connection(app_db)
    expected = schema_hash(conn)
    conn.close()
    inventory = take_inventory(app_db)
    assert inventory.tables == {"t": 300, "notes": 300, "plain": 300}
    assert inventory.schema_sha256 == expected


def test_reads_of_a_copy_work_but_a_typo_stays_an_error(app_db: Path):
    with open_copy(app_db) as conn:
        assert len(conn.execute("select * from t").fetchall()) == 300
        assert len(conn.execute("select * from notes order by title").fetchall()) == 300
        with pytest.raises(sqlite3.OperationalError, match="no such function: myfm"):
            conn.execute("select myfm(b) from t")
        assert conn.stand_ins.functions == {"myfn"}
        assert conn.stand_ins.collations == {"MYCOLL"}


@pytest.mark.parametrize(
    "query",
    [
        "select count(*) from t where c is not null",  # myfn computes c: NULL here
        "select count(*) from notes where title = 'Title 1'",  # MYCOLL's index, binary search
    ],
)
def test_drill_sql_that_needs_the_application_says_so(app_db: Path, query: str):
    assert _drill_sql("select count(*) from t where a like 'a%'", app_db) is None
    problem = _drill_sql(query, app_db)
    assert problem is not None and "only the application defines" in problem
    assert "myfn" in problem or "MYCOLL" in problem


def test_the_preview_compares_such_databases(app_db: Path, tmp_path: Path):
    now = tmp_path / "now.db"
    shutil.copy(app_db, now)
    conn = app_connection(now)
    conn.execute("update notes set title = upper(title) where id <= 5")  # equal to MYCOLL
    conn.execute("update t set b = 'other' where id <= 3")
    conn.execute("delete from t where id > 290")
    conn.commit()
    conn.close()
    diff = diff_databases(app_db, now)
    tables = {t.name: t for t in diff.tables}
    assert (tables["t"].brought_back, tables["t"].removed, tables["t"].changed) == (10, 0, 3)
    # A restore changes bytes: titles MYCOLL calls equal but that differ are changes.
    assert tables["notes"].changed == 5 and tables["plain"].changed == 0
    assert diff.unreadable is None and not diff.partial


def test_the_preview_of_an_unreadable_database_says_so(app_db: Path, tmp_path: Path):
    now = tmp_path / "now.db"
    shutil.copy(app_db, now)
    with open(now, "r+b") as fh:  # the schema's page
        fh.seek(100)
        fh.write(b"\xff" * 200)
    diff = diff_databases(app_db, now)
    assert diff.unreadable and all(t.rows_now is None for t in diff.tables)
    text = summarize(diff)
    assert "SQLite cannot read the database" in text and "900 rows" in text


@pytest.mark.parametrize("rowid", [True, False])
def test_the_preview_never_matches_rows_on_a_key_in_the_applications_order(
    tmp_path: Path, rowid: bool
):
    snap, now = tmp_path / "snap.db", tmp_path / "now.db"
    conn = app_connection(snap)
    conn.execute(
        "create table k(name text primary key collate MYCOLL, v int)"
        + ("" if rowid else " without rowid")
    )
    conn.executemany("insert into k values (?, ?)", [(f"{'aA'[i % 2]}{i}", i) for i in range(2000)])
    conn.commit()
    conn.close()
    shutil.copy(snap, now)
    conn = app_connection(now)
    conn.execute("update k set v = -1 where v < 10")
    conn.commit()
    conn.close()
    [table] = diff_databases(snap, now).tables
    if rowid:
        assert (table.matched_by, table.brought_back, table.removed, table.changed) == (
            "rowid",
            0,
            0,
            10,
        )
    else:
        assert table.matched_by == "counts only" and "collation MYCOLL" in table.note
        assert table.brought_back is None and table.rows_now == table.rows_snapshot == 2000
