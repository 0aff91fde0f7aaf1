"""`lifeboat query`: a table, JSON rows or CSV from a snapshot or a source's newest
point; what would write is refused, bad input is one line (exit 2); a real process
leaves nothing behind."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from tests.conftest import cli_process


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_query_prints_a_table_json_rows_or_csv(cli, db: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    taken = cli("backup", "notes", "--json")
    snapshot_id = json.loads(taken.out)["id"]
    sql = "select id, name, length(payload) as size from items where id <= 5 order by id"
    expected = _rows(db, sql)
    sqlite3.connect(db, isolation_level=None).execute("delete from items")  # after the backup

    table = cli("query", "notes", sql)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert snapshot_id in lines[0]
    assert lines[1].split() == ["id", "name", "size"]
    assert [line.split() for line in lines[2:7]] == [[str(v) for v in r] for r in expected]
    assert lines[7] == "(5 rows)"

    as_json = cli("query", snapshot_id, sql, "--json")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out) == [{"id": i, "name": n, "size": s} for i, n, s in expected]
    as_csv = cli("query", snapshot_id, sql, "--csv")
    assert as_csv.code == 0, as_csv.err
    parsed = list(csv.reader(io.StringIO(as_csv.out)))
    assert parsed[0] == ["id", "name", "size"]
    assert parsed[1:] == [[str(v) for v in r] for r in expected]
    blob = cli("query", snapshot_id, "select x'00ff' as b, null as n", "--json")
    assert json.loads(blob.out) == [{"b": "00ff", "n": None}]
    empty = cli("query", snapshot_id, "select id from items where 0", "--json")
    assert json.loads(empty.out) == []


def test_writes_and_bad_input_are_one_line_errors(cli, db: Path, home: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    assert cli("backup", "notes").code == 0
    for args, says in (
        (("query", "notes", "delete from items"), "not read-only"),
        (("query", "notes", "drop table items"), "not read-only"),
        (("query", "notes", "select nope from items"), "no such column"),
        (("query", "notes", "   "), "empty"),
        (("query", "nobody", "select 1"), "snapshot"),
        (("query", "notes", "select 1", "--at", "not a time"), "--at"),
        (("query", "notes", "select 1", "--csv", "--json"), "together"),
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.out, result.err)
        errors = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and says in errors[0], (args, result.err)
    assert _rows(db, "select count(*) from items") == [(200,)]


def test_a_query_process_writes_nothing_and_leaves_no_scratch(home: Path, db: Path):
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    assert cli_process(home, "backup", "notes").returncode == 0
    before = {p: p.stat().st_mtime_ns for p in [*home.rglob("*"), *db.parent.glob("*")]}
    done = cli_process(home, "query", "notes", "select count(*) from items", "--csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["count(*)", "200"]
    after = {p: p.stat().st_mtime_ns for p in [*home.rglob("*"), *db.parent.glob("*")]}
    changed = {p for p in after if before.get(p) != after[p]}
    # The log and the run records are Lifeboat's own bookkeeping, not the point's.
    assert {
        p for p in changed if p.is_file() and "runs" not in p.parts and p.suffix != ".log"
    } == set()
    assert not [p for p in (home / "tmp").rglob("*") if p.is_file()]


def test_an_argument_that_is_not_text_gets_one_line(cli, db: Path):
    """Bytes the system's encoding cannot decode (kept by Python as lone surrogates)
    in the SQL, a table or a key: a one-line error (exit 2), not an unexpected error."""
    cli("source", "add", str(db), "--name", "notes")
    assert cli("backup", "notes").code == 0
    for argv in (
        ("query", "notes", "select '\udcff'"),
        ("history", "notes", "--table", "items", "--key", "\udcff"),
        ("history", "notes", "--table", "\udcff", "--key", "1"),
    ):
        result = cli(*argv)
        assert result.code == 2 and "unexpected" not in result.err, (argv, result.err)
    assert "not text" in cli("query", "notes", "select '\udcff'").err
