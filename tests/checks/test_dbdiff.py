"""Restore preview: dbdiff's figures against a brute-force reference in Python."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.dbdiff import diff_databases
from lifeboat.core.dbdiff_summary import summarize


def brute_force(snapshot: Path, now: Path, table: str, key: str) -> tuple[int, int, int]:
    """(brought back, removed, changed): every row of both read into dicts by key."""

    def rows(path: Path) -> dict[object, tuple[object, ...]]:
        conn = sqlite3.connect(path)
        cols = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        common = sorted(set(cols) & set(shared_columns))
        found = {
            r[0]: r[1:] for r in conn.execute(f"select {key}, {', '.join(common)} from {table}")
        }
        conn.close()
        return found

    def columns(path: Path) -> set[str]:
        conn = sqlite3.connect(path)
        found = {r[1] for r in conn.execute(f"pragma table_info({table})")}
        conn.close()
        return found

    shared_columns = columns(snapshot) & columns(now)
    before, after = rows(snapshot), rows(now)
    back = len(before.keys() - after.keys())
    gone = len(after.keys() - before.keys())
    changed = sum(1 for k in before.keys() & after.keys() if before[k] != after[k])
    return back, gone, changed


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    snap, now = tmp_path / "snap.db", tmp_path / "now.db"
    conn = sqlite3.connect(snap)
    conn.executescript("""
        create table notes(id integer primary key, title text, body blob);
        create table kv(k text primary key, v) without rowid;
        create table people(name text, age int);
        create table tags(name text primary key, n int);
        create table empty(x);
        create table old_stuff(x);
        create index notes_title on notes(title);
    """)
    conn.executemany(
        "insert into notes(title, body) values (?, ?)",
        [(f"t{i}", bytes([i % 256]) * 10) for i in range(3000)],
    )
    conn.executemany("insert into kv values (?, ?)", [(f"k{i}", i) for i in range(500)])
    conn.executemany("insert into people values (?, ?)", [(f"p{i}", i) for i in range(200)])
    conn.executemany("insert into tags values (?, ?)", [(f"g{i}", i) for i in range(100)])
    conn.executemany("insert into old_stuff values (?)", [(i,) for i in range(7)])
    conn.commit()
    conn.close()
    now.write_bytes(snap.read_bytes())
    conn = sqlite3.connect(now)
    conn.executescript("""
        delete from notes where id % 7 = 0;
        update notes set body = x'00' where id % 11 = 0;
        update notes set title = null where id between 100 and 104;
        insert into notes(title, body) values ('new', null), ('new2', x'01');
        delete from kv where k like 'k1%';
        update kv set v = v + 1 where k like 'k2%';
        insert into kv values ('zz', 1);
        alter table people add column email text;
        update people set email = 'x' where age < 10;
        update people set age = -1 where age > 190;
        delete from tags where n > 90;
        drop table old_stuff;
        create table attachments_v2(id integer primary key, data blob);
        insert into attachments_v2(data) values (x'00');
        drop index notes_title;
        create index notes_body on notes(body);
    """)
    conn.commit()
    conn.close()
    return snap, now


def test_figures_match_brute_force(pair: tuple[Path, Path]) -> None:
    snap, now = pair
    diff = diff_databases(snap, now)
    tables = {t.name: t for t in diff.tables}
    for name, key in [("notes", "id"), ("kv", "k"), ("people", "rowid"), ("tags", "name")]:
        t = tables[name]
        assert (t.brought_back, t.removed, t.changed) == brute_force(snap, now, name, key), name
        assert not t.partial
    assert tables["kv"].matched_by == "primary key"
    assert tables["people"].matched_by == "rowid"
    assert tables["empty"].rows_snapshot == tables["empty"].rows_now == 0
    assert not tables["empty"].differs
    assert (
        tables["old_stuff"].brought_back == 7 and tables["old_stuff"].note == "only in the snapshot"
    )
    assert tables["attachments_v2"].removed == 1
    assert diff.schema.added == ["index notes_body", "table attachments_v2"]
    assert diff.schema.removed == ["index notes_title", "table old_stuff"]
    assert diff.schema.columns_added == {"people": ["email"]}
    # "people" gained a column: only values of the columns both have are compared.
    assert tables["people"].changed == 9  # ages 191..199; emails are not compared
    text = summarize(diff)
    assert "drops table attachments_v2" in text and "brings back table old_stuff" in text


def test_a_table_without_a_usable_key_gets_counts_only(tmp_path: Path) -> None:
    snap, now = tmp_path / "snap.db", tmp_path / "now.db"
    for path, rows in ((snap, 5), (now, 3)):
        conn = sqlite3.connect(path)
        try:
            conn.execute("create virtual table docs using fts5(body)")
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no FTS5")
        conn.executemany("insert into docs values (?)", [(f"d{i}",) for i in range(rows)])
        conn.commit()
        conn.close()
    docs = {t.name: t for t in diff_databases(snap, now).tables}["docs"]
    assert docs.matched_by == "counts only" and docs.brought_back is None
    assert (docs.rows_snapshot, docs.rows_now) == (5, 3)
    assert "counts only" in (docs.note or "")


def test_two_million_rows_within_the_budget_and_partial_past_it(tmp_path: Path) -> None:
    snap, now = tmp_path / "snap.db", tmp_path / "now.db"
    conn = sqlite3.connect(snap)
    conn.execute("create table big(id integer primary key, v int)")
    conn.execute(
        "insert into big(v) select value from generate_series(1, 2000000)"
        if _has_series(conn)
        else "with recursive n(i) as (select 1 union all select i + 1 from n "
        "where i < 2000000) insert into big(v) select i from n"
    )
    conn.commit()
    conn.close()
    now.write_bytes(snap.read_bytes())
    conn = sqlite3.connect(now)
    conn.execute("update big set v = 0 where id % 1000 = 0")
    conn.execute("delete from big where id % 5000 = 1")
    conn.commit()
    conn.close()
    big = diff_databases(snap, now, budget=60).tables[0]
    assert (big.brought_back, big.removed, big.changed) == (400, 0, 2000)
    assert not big.partial
    # A budget too small for the work: counts only, marked partial, no wrong figure.
    cut = diff_databases(snap, now, budget=0.01)
    assert cut.partial and cut.tables[0].partial
    assert cut.tables[0].brought_back is None and cut.tables[0].changed is None
    assert cut.tables[0].rows_now == 2000000 - 400


def _has_series(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("select * from generate_series(1, 1)")
        return True
    except sqlite3.OperationalError:
        return False


def test_the_summary_reads_as_a_sentence() -> None:
    from lifeboat.core.dbdiff_records import DatabaseDiff, SchemaDiff, TableDiff

    diff = DatabaseDiff(
        [
            TableDiff("notes", 1241, 74, brought_back=1204, removed=37, changed=1),
            TableDiff("docs", 5, 3, matched_by="counts only"),
            TableDiff("same", 10, 10, 0, 0, 0),
        ],
        SchemaDiff(added=["table attachments_v2"]),
        partial=False,
        seconds=0.1,
    )
    assert summarize(diff) == (
        "Restoring brings back 1,204 rows, removes 37 rows added since the snapshot, "
        "changes 1 row in notes; goes from 3 to 5 rows (not compared row by row) in docs; "
        "drops table attachments_v2 (created since)."
    )
