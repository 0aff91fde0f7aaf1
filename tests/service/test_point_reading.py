"""Service.open_point and read-only queries over any backup point: the results equal the
same query on the database `restore --to` rebuilds, for a full snapshot, a differential,
a point of the continuous history, a sealed snapshot and a remote-only one; a statement
that would write is refused; nothing is written anywhere, and the run's scratch space is
empty once the point is closed."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.point_query import NotReadOnly, PointQuery
from lifeboat.foundation.errors import ConfigError, LifeboatError
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.helpers.databases import make_db
from tests.helpers.memory_remote import add_memory_remote

QUERIES = [
    "select id, name, hex(payload) from items order by id",
    "select count(*), sum(length(payload)), max(name) from items",
    "select name from items where id between 40 and 60 order by name desc",
    "select type, name, tbl_name, sql from sqlite_schema order by name",
    "pragma table_info(items)",
]


def _reference(service: Service, ref: str, out: Path, at: datetime | None = None) -> Path:
    if at is None:
        service.restore(ref, to=out)
    else:
        service.restore_point(ref, at, to=out)
    return out


def _same_answers(service: Service, rebuilt: Path, ref: str, at: datetime | None = None):
    conn = sqlite3.connect(f"file:{rebuilt}?mode=ro", uri=True)
    try:
        with service.open_point(ref, at) as pages, PointQuery(pages) as query:
            for sql in QUERIES:
                got = query.run(sql)
                expected = conn.execute(sql)
                assert got.columns == [d[0] for d in expected.description], sql
                assert list(got.rows) == expected.fetchall(), sql
    finally:
        conn.close()


def _listing(*folders: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def _scratch_files(home: Path) -> list[Path]:
    return [p for p in (home / "tmp").rglob("*") if p.is_file()]


def _change(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(sql)
    conn.close()


def test_full_and_differential_snapshots_answer_as_their_restore(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=1500)
    service = Service()
    service.add_source(db, name="notes", schedule="manual")
    full = service.backup("notes", full=True)
    _change(db, "delete from items where id % 301 = 0")
    _change(db, "update items set name = 'changed ' || id where id between 40 and 50")
    _change(db, "insert into items(name, payload) values ('more', randomblob(3000))")
    diff = service.backup("notes")
    assert (full.manifest.kind, diff.manifest.kind) == ("full", "diff")
    for record in (full, diff):
        rebuilt = _reference(service, record.id, tmp_path / f"{record.id}.db")
        before = _listing(home, tmp_path)
        _same_answers(service, rebuilt, record.id)
        assert _listing(home, tmp_path) == before, "nothing written anywhere"
        assert not _scratch_files(home), "the run's scratch space is empty after close"


def test_a_point_of_the_continuous_history_answers_as_its_restore(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=200)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    follower = service.open_follower("notes", compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    marks = []
    for k in range(12):
        writer.execute("delete from items where id = ?", (k * 3 + 1,))
        writer.execute("update items set name = ? where id = ?", (f"now {k}", 100 + k))
        writer.execute("insert into items(name, payload) values ('new', randomblob(4000))")
        follower.poll()
        marks.append(datetime.now(UTC))
    follower.close()
    writer.close()
    for index in (2, 7):
        at = marks[index]
        rebuilt = _reference(service, "notes", tmp_path / f"point-{index}.db", at)
        before = _listing(home, tmp_path)
        _same_answers(service, rebuilt, "notes", at)
        assert _listing(home, tmp_path) == before
    with service.open_point("notes") as pages:  # the newest point: every change
        query = PointQuery(pages)
        assert list(query.run("select name from items where id = 111").rows) == [("now 11",)]
        query.close()
    assert not _scratch_files(home)


def test_sealed_and_remote_only_snapshots_answer_as_their_restore(
    home: Path, file_keyring: Path, tmp_path: Path
):
    service = Service(stores=MemoryStores())
    service.init_key()
    add_memory_remote(service)
    sealed_db = make_db(tmp_path / "secret.db", rows=150)
    service.add_source(sealed_db, name="secret", schedule="manual", encrypt_local=True)
    sealed = service.backup("secret", upload=False)
    assert sealed.path.name.endswith(".age")
    far_db = make_db(tmp_path / "far.db", rows=150, seed=3)
    service.add_source(far_db, name="far", schedule="manual", remote="offsite")
    gone = service.backup("far")
    reference = _reference(service, gone.id, tmp_path / "far-ref.db")
    service.delete_snapshot(gone.id)  # its copy on offsite remains
    assert not service.snapshot(gone.id).local
    for ref, rebuilt in (
        (sealed.id, _reference(service, sealed.id, tmp_path / "sealed-ref.db")),
        (gone.id, reference),
    ):
        _same_answers(service, rebuilt, ref)
        assert not _scratch_files(home), "nothing decrypted or fetched is left"


def test_what_would_write_is_refused_and_bad_input_is_one_line(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=50)
    service = Service()
    service.add_source(db, name="notes", schedule="manual")
    record = service.backup("notes")
    elsewhere = tmp_path / "elsewhere.db"
    before = _listing(home, tmp_path)
    with service.open_point(record.id) as pages, PointQuery(pages) as query:
        for sql in (
            "delete from items",
            "update items set name = 'x'",
            "create table t(a)",
            "create temp table t(a)",
            "drop index items_name",
            f"attach '{elsewhere}' as other",
            f"vacuum into '{elsewhere}'",
            "pragma user_version = 7",
            "pragma journal_mode = delete",
            "select 1; delete from items",
            "begin immediate",
        ):
            with pytest.raises(NotReadOnly) as refused:
                list(query.run(sql).rows)
            assert "\n" not in refused.value.message, sql
        with pytest.raises(ConfigError) as bad:
            query.run("select nope from items")
        assert "no such column" in bad.value.message and "\n" not in bad.value.message
        assert list(query.run("select count(*) from items").rows) == [(50,)]
    assert _listing(home, tmp_path) == before
    assert not elsewhere.exists()
    with pytest.raises(LifeboatError):
        service.open_point("nobody")
    with pytest.raises(ConfigError):
        service.open_point(record.id, datetime.now(UTC))
    assert not os.listdir(home / "tmp") or not _scratch_files(home)


def test_a_remote_only_snapshot_on_s3_answers_as_its_restore(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    from tests.storage.test_remote import add_remote

    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "far.db", rows=400, seed=5)
    service.add_source(db, name="far", schedule="manual", remote="offsite")
    gone = service.backup("far")
    reference = _reference(service, gone.id, tmp_path / "far-ref.db")
    service.delete_snapshot(gone.id)
    assert not service.snapshot(gone.id).local
    _same_answers(service, reference, gone.id)
    _same_answers(service, reference, "far")  # the source's newest point is that snapshot
    assert not _scratch_files(home), "nothing fetched is left"
