"""`lifeboat history NAME --table T --key K`: the versions of one row, as a table and as
JSON; the time printed for a commit restores exactly that version; bad input is a
one-line error (exit 2)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from lifeboat.service import Service
from tests.helpers.databases import make_db


def _history(tmp_path: Path) -> Path:
    db = make_db(tmp_path / "notes.db", rows=50)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    follower = service.open_follower("notes", compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    for sql in (
        "update items set name = 'first' where id = 7",
        "update items set name = 'other' where id = 30",
        "update items set name = 'second', payload = x'0102' where id = 7",
        "delete from items where id = 7",
    ):
        writer.execute(sql)
        follower.poll()
    follower.close()
    writer.close()
    return db


def test_the_versions_of_a_row_and_the_commit_that_gives_each_back(home, cli, tmp_path):
    _history(tmp_path)
    result = cli("history", "notes", "--table", "items", "--key", "7", "--json")
    assert result.code == 0, result.err
    said = json.loads(result.out)
    assert said["points"] == 5 and said["looked_up"] <= 4 and said["unreadable"] == []
    listed = said["versions"]
    assert [v["change"] for v in listed] == ["present", "changed", "changed", "deleted"]
    assert [v["point"] for v in listed] == ["full", "commit", "commit", "commit"]
    assert listed[2]["columns"] == [
        {"column": "name", "old": "first", "new": "second"},
        {"column": "payload", "old": listed[1]["values"]["payload"], "new": {"blob_hex": "0102"}},
    ]
    table = cli("history", "notes", "--table", "items", "--key", "id=7")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert "name: 'first' -> 'second'; payload: <blob" in lines[3]
    when = lines[3][:26]  # the WHEN column: that commit's local time to the microsecond
    restored = tmp_path / "back.db"
    done = cli("restore", "notes", "--at", when, "--to", str(restored))
    assert done.code == 0, done.err
    conn = sqlite3.connect(restored)
    assert conn.execute("select name, payload from items where id = 7").fetchone() == (
        "second",
        b"\x01\x02",
    )
    conn.close()


def test_bad_input_is_one_line_exit_2(home, cli, tmp_path):
    _history(tmp_path)
    cases = [
        (["--table", "items"], "give the row's key"),
        (["--table", "items", "--key", "x"], "whole number"),
        (["--table", "items", "--key", "7", "--where", "id=7"], "not both"),
        (["--table", "items", "--where", "id >"], "the query does not run"),
        (["--table", "items", "--where", "1"], "more than 20 rows match"),
        (["--table", "items", "--key", "7", "--at", "now"], "--at goes with --where"),
        (["--table", "nope", "--key", "7"], "no backup point of notes has a table named nope"),
        (["--table", "items", "--key", "1", "--key", "2"], "name each column"),
    ]
    for args, said in cases:
        result = cli("history", "notes", *args)
        assert result.code == 2, (args, result.out)
        assert said in result.err
        assert "Traceback" not in result.err
        assert result.err.startswith("error: ") and len(result.err.splitlines()) == 2
    assert cli("history", "nobody", "--table", "items", "--key", "7").code == 2


def test_where_finds_the_rows_then_follows_each_across_the_points(home, cli, tmp_path):
    _history(tmp_path)
    gone = cli("history", "notes", "--table", "items", "--where", "id = 7", "--json")
    assert gone.code == 0 and json.loads(gone.out) == [], "deleted since: not at the newest"
    first = cli("history", "notes", "--table", "items", "--key", "7", "--json")
    when = json.loads(first.out)["versions"][0]["time"]  # the full snapshot: still there
    both = cli(
        "history", "notes", "--table", "items", "--where", "id in (7, 30)", "--at", when, "--json"
    )
    assert both.code == 0, both.err
    listed = {row["key"]: [v["change"] for v in row["versions"]] for row in json.loads(both.out)}
    assert listed == {
        "rowid 7": ["present", "changed", "changed", "deleted"],
        "rowid 30": ["present", "changed"],
    }
    words = cli("history", "notes", "--table", "items", "--where", "name = 'other'")
    assert words.code == 0 and "row rowid 30:" in words.out
