"""Save a copy (`lifeboat export`, History's Save a copy…): one Service method writes a
verified standalone database, exclusively, never over a file that is there."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from lifeboat.foundation.errors import LifeboatError
from lifeboat.jobs.export import publish_new
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def test_a_differential_is_saved_as_a_verified_database_with_its_sources_mode(
    service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=1500)
    os.chmod(db, 0o640)
    service.add_source(db, schedule="manual")
    service.backup("notes")
    with sqlite3.connect(db) as conn:
        conn.execute("update items set name = 'changed' where id % 50 = 0")
    conn.close()
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff"
    target = tmp_path / "copies" / "copy.db"
    target.parent.mkdir()
    outcome = service.export_snapshot(diff.id, target)
    assert outcome.target == target
    assert db_content(target) == db_content(db)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.db"], "no work file left"
    job = service.jobs(limit=1)[0]
    assert job.status == "ok" and str(target) in (job.detail or "")


def test_an_existing_file_is_never_replaced(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=300)
    service.add_source(db, schedule="manual")
    record = service.backup("notes")
    there = tmp_path / "there.db"
    there.write_bytes(b"mine")
    with pytest.raises(LifeboatError, match="already exists"):
        service.export_snapshot(record.id, there)
    assert there.read_bytes() == b"mine"
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "nowhere.db")
    with pytest.raises(LifeboatError, match="already exists"):
        service.export_snapshot(record.id, link)
    assert link.is_symlink() and not (tmp_path / "nowhere.db").exists()
    service.export_snapshot(record.id, there, replace=True)  # the command line's --yes
    assert db_content(there) == db_content(db)


def test_a_file_that_appears_while_writing_is_left_as_it_is(tmp_path: Path):
    work = tmp_path / ".work"
    work.write_bytes(b"snapshot")
    final = tmp_path / "copy.db"
    final.write_bytes(b"appeared meanwhile")
    with pytest.raises(LifeboatError, match="left as it is"):
        publish_new(work, final)
    assert final.read_bytes() == b"appeared meanwhile"
    final.unlink()
    publish_new(work, final)
    assert final.read_bytes() == b"snapshot"


def test_a_leftover_wal_of_the_chosen_name_is_refused(service: Service, tmp_path: Path):
    """SQLite would apply a -wal left from an earlier database of that name to the copy."""
    db = make_db(tmp_path / "notes.db", rows=300)
    service.add_source(db, schedule="manual")
    record = service.backup("notes")
    target = tmp_path / "copy.db"
    stale = tmp_path / "copy.db-wal"
    stale.write_bytes(b"an old log")
    with pytest.raises(LifeboatError, match="SQLite would apply it"):
        service.export_snapshot(record.id, target)
    assert not target.exists() and stale.read_bytes() == b"an old log"
