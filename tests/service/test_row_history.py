"""Service.row_history against a brute-force reference: every point of the source (full
and differential snapshots, each commit of its continuous history) rebuilt whole by a
restore --to, the row read from it by SQLite; the versions derived from those must be
exactly the ones row_history finds while looking the row up at few points."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.core.history.row_versions import (
    Observation,
    PointKind,
    RowChange,
    RowPoint,
    RowVersion,
    row_versions,
)
from lifeboat.foundation.errors import ConfigError, NotFound
from lifeboat.foundation.progress import CancelToken
from lifeboat.service import Service
from lifeboat.service.row_history import observations
from tests.helpers.databases import make_db

NAME = "notes"


def _row(db: Path, sql: str) -> tuple[bool, dict[str, object] | None]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError as exc:
        assert "no such table" in str(exc)
        return False, None
    finally:
        conn.close()
    return True, dict(row) if row is not None else None


def _reference(service: Service, points: list[RowPoint], tmp: Path, sql: str) -> list[Observation]:
    """Each point rebuilt in full and the row read by SQLite."""
    found = []
    for i, point in enumerate(points):
        path = tmp / f"point-{i}.db"
        if point.snapshot_id is not None:
            service.restore(point.snapshot_id, to=path)
        else:
            service.restore_point(NAME, point.time, to=path)
        exists, values = _row(path, sql)
        found.append(Observation(point, exists, values))
    return found


def follow(
    service: Service, db: Path, steps: list[list[str] | str], *, history: bool = True
) -> None:
    """Run each step: statements as one transaction (then the follower, if `history`,
    polls), or "full"/"diff": a snapshot. Without `history`, a full snapshot first."""
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0) if history else None
    if follower is not None:
        follower.start()
    else:
        service.backup(NAME, full=True, upload=False)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for step in steps:
            if isinstance(step, str):
                service.backup(NAME, full=step == "full", upload=False)
                continue
            writer.execute("begin")
            for statement in step:
                writer.execute(statement)
            writer.execute("commit")
            if follower is not None:
                follower.poll()
    finally:
        if follower is not None:
            follower.close()
        writer.close()


def check_against_reference(
    service: Service, tmp: Path, table: str, key: KeySpec, sql: str, *, commits: bool = True
) -> tuple[list[RowVersion], int, int]:
    """The versions row_history finds (equal to the reference's), how many lookups it
    took and across how many points."""
    seen = observations(service.workspace, NAME, table, key, CancelToken())
    found, lookups = seen.found, seen.lookups
    assert not seen.unreadable
    points = [o.point for o in found]
    kinds = {p.kind for p in points}
    assert PointKind.FULL in kinds and (PointKind.COMMIT in kinds) == commits
    reference = _reference(service, points, tmp, sql)
    assert found == reference
    history = service.row_history(NAME, table, key)
    versions = history.versions
    assert versions == row_versions(reference)
    assert (history.points, history.lookups) == (len(points), lookups)
    return versions, lookups, len(points)


STEPS: list[list[str] | str] = [
    ["insert into items(id, name, payload) values (1000, 'first', x'01')"],
    ["update items set name = 'other' where id = 3"],  # another row: not a version
    ["update items set name = 'second', payload = randomblob(9000) where id = 1000"],
    "diff",
    ["insert into items(name, payload) select 'bulk', randomblob(300) from items"],
    ["delete from items where id = 1000"],
    "full",
    ["insert into items(id, name, payload) values (1000, 'again', null)"],
    "diff",
    ["update items set payload = randomblob(9000) where id = 1000"],  # same size: in place
    ["drop table items"],
    ["create table items(id integer primary key, name text, payload blob, extra)"],
    ["insert into items values (1000, 'recreated', null, 5)"],
]


def test_a_rowid_rows_versions_through_snapshots_and_commits(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    follow(service, db, STEPS)
    versions, _, _ = check_against_reference(
        service, tmp_path, "items", KeySpec(rowid=1000), "select * from items where id = 1000"
    )
    changes = [v.change for v in versions]
    assert changes == [
        RowChange.CREATED,
        RowChange.CHANGED,
        RowChange.DELETED,
        RowChange.CREATED,
        RowChange.CHANGED,
        RowChange.DELETED,
        RowChange.CREATED,
    ]
    assert {c.column for c in versions[1].columns} == {"name", "payload"}
    assert versions[1].columns[0].old == "first"
    assert versions[5].table_gone
    assert versions[6].values == {"id": 1000, "name": "recreated", "payload": None, "extra": 5}
    assert versions[6].point.kind == PointKind.COMMIT


def test_a_without_rowid_row_with_a_composite_key(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=50)
    setup = sqlite3.connect(db, isolation_level=None)
    setup.execute(
        "create table tags(kind text, n int, label text, primary key(kind, n)) without rowid"
    )
    setup.execute("insert into tags select 'k' || (id % 7), id, hex(randomblob(40)) from items")
    setup.close()
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    steps: list[list[str] | str] = [
        ["update tags set label = 'one' where kind = 'k3' and n = 10"],
        "diff",
        ["insert into tags select 'z' || id, id, hex(randomblob(300)) from items"],
        ["update tags set label = 'two' where kind = 'k3' and n = 10"],
        "full",
        ["delete from tags where kind = 'k3'"],
        ["insert into tags values ('k3', 10, 'back')"],
    ]
    follow(service, db, steps)
    key = KeySpec(values=(("kind", "k3"), ("n", "10")))
    sql = "select * from tags where kind = 'k3' and n = 10"
    versions, _, _ = check_against_reference(service, tmp_path, "tags", key, sql)
    assert [v.change for v in versions] == [
        RowChange.PRESENT,
        RowChange.CHANGED,
        RowChange.CHANGED,
        RowChange.DELETED,
        RowChange.CREATED,
    ]
    assert versions[1].columns[0].new == "one"


def test_bad_input_is_a_clear_error(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=20)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual")
    with pytest.raises(NotFound, match="no backup point"):
        service.row_history(NAME, "items", KeySpec(rowid=1))
    service.backup(NAME)
    with pytest.raises(NotFound, match="has a table named nothere"):
        service.row_history(NAME, "nothere", KeySpec(rowid=1))
    with pytest.raises(ConfigError, match="whole number"):
        service.row_history(NAME, "items", KeySpec(values=((None, "abc"),)))
    versions = service.row_history(NAME, "ITEMS", KeySpec(values=((None, "2"),))).versions
    assert [v.change for v in versions] == [RowChange.PRESENT]
    assert versions[0].point.time - versions[0].point.time < timedelta(seconds=1)


def test_points_whose_pages_did_not_change_are_not_looked_up(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=2000)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    elsewhere = [[f"update items set name = 'n{i}' where id = {1500 + 17 * i}"] for i in range(24)]
    steps: list[list[str] | str] = [
        *elsewhere[:8],
        "diff",
        *elsewhere[8:16],
        ["update items set name = 'mine' where id = 5"],
        "diff",
        *elsewhere[16:],
        "full",
        ["insert into items(name) values ('appended')"],
        "diff",
    ]
    follow(service, db, steps)
    sql = "select * from items where id = 5"
    versions, lookups, points = check_against_reference(
        service, tmp_path, "items", KeySpec(rowid=5), sql
    )
    assert [v.change for v in versions] == [RowChange.PRESENT, RowChange.CHANGED]
    assert versions[1].point.kind == PointKind.COMMIT
    assert points >= 30
    # the first snapshot, the commit that changed it, and nothing else
    assert lookups == 2
