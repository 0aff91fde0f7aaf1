"""An in-place restore over a database that already holds the snapshot writes nothing, and
says so; one that differs in a single row, or cannot be proven equal, is written as usual."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.core.page_digest import CONTENT_DIGEST
from lifeboat.core.restore_unchanged import holds_snapshot
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _file_state(db: Path) -> tuple[str, int, int]:
    data = db.read_bytes()
    st = os.stat(db)
    return hashlib.sha256(data).hexdigest(), st.st_ino, st.st_mtime_ns


def _change_one_row(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("update items set name = 'changed' where id = 7")


def test_a_database_holding_the_snapshot_is_left_untouched(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    service.add_source(db)
    snap = service.backup("notes")
    before = _file_state(db)
    result = service.restore(snap.id)
    assert result.method == "unchanged" and result.safety_snapshot is None
    assert _file_state(db) == before, "nothing was written into the database"
    assert [s.id for s in service.snapshots("notes")] == [snap.id]


def test_the_safety_snapshot_taken_for_nothing_goes(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    service.add_source(db)
    first = service.backup("notes")
    expected = db_content(db)
    _change_one_row(db)
    service.backup("notes")
    written = service.restore(first.id)  # the newest snapshot now differs from the database
    assert written.method == "backup-api" and db_content(db) == expected
    ids = {s.id for s in service.snapshots("notes")}
    again = service.restore(first.id)  # a new safety snapshot is taken, then found useless
    assert again.method == "unchanged" and again.safety_snapshot is None
    assert {s.id for s in service.snapshots("notes")} == ids
    assert db_content(db) == expected


def test_one_changed_row_is_restored(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    service.add_source(db)
    snap = service.backup("notes")
    expected = db_content(db)
    _change_one_row(db)
    result = service.restore(snap.id)
    assert result.method == "backup-api" and result.safety_snapshot is not None
    assert db_content(db) == expected


def test_the_proof_says_no_unless_it_holds(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    service.add_source(db)
    manifest = service.snapshot(service.backup("notes").id).manifest
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("begin immediate")  # as the restore's write holds it
    try:
        assert holds_snapshot(db, manifest, 5.0)
        other = replace(manifest, extra={**manifest.extra, CONTENT_DIGEST: "0" * 64})
        assert not holds_snapshot(db, other, 5.0), "another content digest"
        fewer = replace(manifest, page_count=manifest.page_count - 1)
        assert not holds_snapshot(db, fewer, 5.0), "another page count"
    finally:
        writer.execute("rollback")
        writer.close()
    _change_one_row(db)
    assert not holds_snapshot(db, manifest, 5.0), "one row differs"


def test_a_rollback_journal_database_is_not_proven(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=200, wal=False)
    service.add_source(db)
    manifest = service.snapshot(service.backup("notes").id).manifest
    assert not holds_snapshot(db, manifest, 5.0)
    result = service.restore(manifest.id)
    assert result.method == "backup-api"


def test_a_protected_safety_differential_keeps_its_base_through_pruning(
    service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=400)
    service.add_source(db, keep="last=1")
    first = service.backup("notes")
    _change_one_row(db)
    before_restore = db_content(db)
    result = service.restore(first.id)
    assert result.safety_snapshot is not None
    safety = service.snapshot(result.safety_snapshot).manifest
    assert safety.kind == "diff" and safety.base == first.id and safety.protected
    for rows in (500, 600):  # newer snapshots push the safety's base out of last=1
        make_db(db, rows=rows - 400, seed=rows)
        service.backup("notes")
    plan = service.prune("notes")
    ids = {s.id for s in service.snapshots("notes")}
    assert {first.id, safety.id} <= ids, "the protected differential and its base stay"
    why = {d.snapshot.id: d.reasons for d in plan.decisions}
    assert "base of 1 kept snapshot" in why[first.id]
    restored = service.restore(safety.id, to=tmp_path / "before.db")
    assert db_content(restored.target) == before_restore
