"""Restore through the service: round trips, live targets, safety copies, bad inputs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError, NotFound, SourceBusy
from lifeboat.service import Service
from tests.conftest import REPO
from tests.helpers.databases import db_content, integrity, make_db

READER = REPO / "tests" / "helpers" / "reader.py"


def change(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("delete from items where id % 3 = 0")
    conn.execute("update items set name = 'changed' where id % 3 = 1")
    conn.execute("create table extra(x)")
    conn.execute("insert into extra values (42)")
    conn.commit()
    conn.close()


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback"])
def test_in_place_round_trip_with_safety_snapshot(service: Service, tmp_path: Path, wal: bool):
    db = make_db(tmp_path / "notes.db", rows=500, wal=wal)
    service.add_source(db)
    snap = service.backup("notes")
    original = db_content(db)
    change(db)
    changed = db_content(db)
    result = service.restore(snap.id)
    assert result.method == "backup-api"
    assert db_content(db) == original and integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        mode = conn.execute("pragma journal_mode").fetchone()[0]
    assert mode == ("wal" if wal else "delete"), "the target kept its journal mode"
    safety = service.snapshot(result.safety_snapshot)
    assert safety.manifest.protected and safety.manifest.reason == "pre-restore"
    again = service.restore(safety.id, to=tmp_path / "before.db")
    assert db_content(again.target) == changed


def test_to_new_file(service: Service, tmp_path: Path, db: Path):
    service.add_source(db)
    snap = service.backup("notes")
    out = tmp_path / "sub" / "copy.db"
    out.parent.mkdir()
    result = service.restore(snap.id, to=out)
    assert result.method == "new-file" and result.safety_snapshot is None
    assert db_content(out) == db_content(db)
    assert not [p for p in out.parent.iterdir() if p.name != "copy.db"]
    with pytest.raises(LifeboatError, match="already exists"):
        service.restore(snap.id, to=out)
    Path(f"{out}-wal").write_bytes(b"stale wal of the file being replaced")
    service.restore(snap.id, to=out, overwrite=True)
    assert integrity(out) == "ok" and not Path(f"{out}-wal").exists()


def test_target_open_in_another_process_sees_restored_rows(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=300)
    service.add_source(db)
    snap = service.backup("notes")
    expected = [list(r[:2]) for r in db_content(db)["items"]]
    change(db)
    reader = subprocess.Popen(
        [sys.executable, str(READER), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        reader.stdin.write("\n")
        reader.stdin.flush()
        before = json.loads(reader.stdout.readline())
        assert before != expected
        service.restore(snap.id)
        reader.stdin.write("\n")
        reader.stdin.flush()
        after = json.loads(reader.stdout.readline())
        assert after == expected
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)


def test_restore_after_source_removed_needs_to(service: Service, tmp_path: Path, db: Path):
    service.add_source(db)
    snap = service.backup("notes")
    service.remove_source("notes")
    with pytest.raises(LifeboatError, match="no longer configured") as err:
        service.restore(snap.id)
    assert "--to" in (err.value.hint or "")
    result = service.restore(snap.id, to=tmp_path / "back.db")
    assert db_content(result.target) == db_content(db)


def test_unreadable_target_is_kept_raw_then_replaced(service: Service, tmp_path: Path, db: Path):
    service.add_source(db)
    snap = service.backup("notes")
    good = db_content(db)
    garbage = b"this is not a database any more" * 500
    db.write_bytes(garbage)
    Path(f"{db}-wal").write_bytes(b"old wal bytes")
    result = service.restore(snap.id)
    assert result.method == "file-replace"
    assert db_content(db) == good and integrity(db) == "ok"
    assert not Path(f"{db}-wal").exists()
    raw = service.snapshot(result.safety_snapshot)
    assert raw.manifest.kind == "raw" and raw.manifest.protected
    assert (raw.path / "notes.db").read_bytes() == garbage
    assert (raw.path / "notes.db-wal").read_bytes() == b"old wal bytes"
    assert all(r.ok for r in service.verify(raw.id))
    back = service.restore(raw.id, to=tmp_path / "forensic.db")
    assert back.target.read_bytes() == garbage


def test_wal_target_with_other_page_size_is_replaced_as_a_file(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=200, page_size=8192)
    service.add_source(db)
    snap = service.backup("notes")
    good = db_content(db)
    db.unlink()
    make_db(db, rows=10, page_size=4096)
    result = service.restore(snap.id)
    assert result.method == "file-replace"
    assert db_content(db) == good and integrity(db) == "ok"


def test_corrupt_artifact_is_refused_and_nothing_is_touched(service: Service, db: Path):
    service.add_source(db)
    snap = service.backup("notes")
    change(db)
    before = db.read_bytes()
    data = bytearray(snap.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snap.path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshot, match="damaged"):
        service.restore(snap.id)
    assert db.read_bytes() == before
    assert [r.manifest.reason for r in service.snapshots("notes")] == ["manual"]


def test_unknown_id_and_bad_targets(service: Service, tmp_path: Path, db: Path):
    service.add_source(db)
    snap = service.backup("notes")
    with pytest.raises(NotFound):
        service.restore("abcdef12")
    with pytest.raises(LifeboatError, match="does not exist"):
        service.restore(snap.id, to=tmp_path / "missing" / "x.db")
    with pytest.raises(LifeboatError, match="is a folder"):
        service.restore(snap.id, to=tmp_path)


def test_target_locked_by_a_writer_fails_cleanly(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=200, wal=False)
    service.add_source(db)
    from dataclasses import replace

    with service.workspace.edit_config() as edit:
        edit.config = replace(edit.config, general=replace(edit.config.general, busy_timeout=1.0))
    snap = service.backup("notes")
    change(db)
    changed = db_content(db)
    holder = sqlite3.connect(db, isolation_level=None, timeout=30)
    holder.execute("begin immediate")
    holder.execute("insert into items(name) values ('pending')")
    try:
        with pytest.raises(SourceBusy, match="nothing was changed"):
            service.restore(snap.id)
    finally:
        holder.execute("rollback")
        holder.close()
    assert db_content(db) == changed and integrity(db) == "ok"


def test_cancel_before_the_final_commit_changes_nothing(service: Service, tmp_path: Path):
    from lifeboat.foundation.errors import Cancelled
    from lifeboat.foundation.progress import CancelToken

    db = make_db(tmp_path / "notes.db", rows=60_000, payload=400)
    service.add_source(db)
    snap = service.backup("notes")
    change(db)
    changed = db_content(db)
    cancel = CancelToken()
    phases: list[str] = []

    def progress(phase: str, done: int, total: int) -> None:
        phases.append(phase)
        if phase == "restore" and done < total:
            cancel.cancel()

    with pytest.raises(Cancelled):
        service.restore(snap.id, progress=progress, cancel=cancel)
    assert "restore" in phases
    assert db_content(db) == changed and integrity(db) == "ok"
    job = service.workspace.catalog.jobs(limit=1)[0]
    assert job.kind == "restore" and job.status == "cancelled"


def test_a_moment_after_a_raw_safety_copy_restores_the_last_real_snapshot(
    service: Service, tmp_path: Path, db: Path
):
    """restore/query --at a moment no history covers takes the last snapshot before it:
    never the raw safety copy of the unreadable file a restore replaced (it is not a
    point: restoring it brings the damage back)."""
    from datetime import UTC, datetime

    service.add_source(db)
    snap = service.backup("notes")
    good = db_content(db)
    db.write_bytes(b"this is not a database any more" * 500)
    raw_id = service.restore(snap.id).safety_snapshot
    assert raw_id is not None and service.snapshot(raw_id).manifest.kind == "raw"
    back = service.restore_point("notes", datetime.now(UTC), to=tmp_path / "moment.db")
    assert db_content(back.target) == good
    with service.open_point("notes") as point:
        assert point.label.snapshot_id == snap.id
    with pytest.raises(LifeboatError, match="raw safety copy") as refused:
        service.open_point(raw_id)
    assert "missing" not in refused.value.message and "--to" in (refused.value.hint or "")
