"""`lifeboat timeline NAME --commits --around T`: the commits around a moment, each
with the rows it changed; bad input is a one-line error (exit 2)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

from lifeboat.service import Service
from tests.helpers.databases import make_db


def _history(tmp_path: Path) -> None:
    db = make_db(tmp_path / "notes.db", rows=50)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    follower = service.open_follower("notes", compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    for sql in (
        "insert into items(name, payload) values ('a', x'01')",
        "update items set name = 'b' where id <= 3",
        "delete from items where id > 40",
    ):
        writer.execute(sql)
        follower.poll()
    follower.close()
    writer.close()


def test_commits_around_a_moment_with_their_row_changes(home, cli, tmp_path):
    _history(tmp_path)
    result = cli("timeline", "notes", "--commits", "--json")
    assert result.code == 0, result.err
    listed = json.loads(result.out)
    assert [c["changes"] for c in listed] == [
        [{"table": "items", "added": 1, "changed": 0, "deleted": 0}],
        [{"table": "items", "added": 0, "changed": 3, "deleted": 0}],
        [{"table": "items", "added": 0, "changed": 0, "deleted": 11}],
    ]
    # Around the second commit, one at or before it and one after: the last two.
    second = datetime.fromisoformat(listed[1]["time"]).astimezone().isoformat()
    result = cli("timeline", "notes", "--commits", "--around", second, "--count", "1")
    assert result.code == 0, result.err
    assert "items: +0 ~3 -0" in result.out and "items: +0 ~0 -11" in result.out
    assert "+1 ~0" not in result.out


def test_bad_input_is_a_one_line_error(home, cli, tmp_path):
    _history(tmp_path)
    for args in (["--around", "now"], ["--commits", "--around", "someday"]):
        result = cli("timeline", "notes", *args)
        assert result.code == 2
        assert len(result.err.strip().splitlines()) <= 2 and "Traceback" not in result.err
    result = cli("timeline", "notes", "--commits", "--count", "0")
    assert result.code == 2 and "--count" in result.err
