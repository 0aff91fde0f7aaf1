"""Service.commit_changes: the rows each commit of a source's history changed, found by
its exact time, through compacted segments; a time with no commit is a clear error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.history.row_changes import TableChange
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.foundation.errors import LifeboatError, NotFound
from lifeboat.service import Service
from lifeboat.service.history import chains_of
from tests.helpers.databases import make_db

NAME = "notes"


def test_each_commit_says_which_rows_of_which_tables_it_changed(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=300)
    setup = sqlite3.connect(db, isolation_level=None)
    setup.execute("create table tags(id integer primary key, label text)")
    setup.execute("insert into tags(label) values ('a'), ('b'), ('c'), ('d')")
    setup.close()
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    transactions = [
        ["insert into items(name, payload) values ('new', randomblob(5000))"],
        [
            "update items set name = 'renamed' where id in (3, 4, 5)",
            "delete from tags where id = 2",
        ],
        ["delete from items where id between 100 and 199", "insert into tags(label) values ('e')"],
        ["create table notes2(t text)", "insert into notes2 values ('x'), ('y')"],
    ]
    expected = [
        [TableChange("items", 1, 0, 0)],
        [TableChange("items", 0, 3, 0), TableChange("tags", 0, 0, 1)],
        [TableChange("items", 0, 0, 100), TableChange("tags", 1, 0, 0)],
        [TableChange("notes2", 2, 0, 0)],
    ]
    for statements in transactions:
        writer.execute("begin")
        for sql in statements:
            writer.execute(sql)
        writer.execute("commit")
        follower.poll()
    follower.close()
    writer.close()
    (chain,) = chains_of(service.workspace, NAME)
    times = []
    for segment in chain.segments:
        with SegmentReader(segment.path) as reader:
            times += [c.time_us for c in reader.commits]
    assert len(times) == len(expected)
    assert [service.commit_changes(NAME, t) for t in times] == expected
    # Many at once (the base read once for them all): the same, a time with no commit
    # left out.
    assert service.commits_changes(NAME, [*times, times[-1] + 1]) == dict(
        zip(times, expected, strict=True)
    )
    with pytest.raises(NotFound) as caught:
        service.commit_changes(NAME, times[-1] + 1)
    assert "timeline" in (caught.value.hint or "")
    with pytest.raises(LifeboatError):
        service.commit_changes("nobody", times[-1])
