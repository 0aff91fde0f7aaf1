"""A row merge starts its safety snapshot at once, on the snapshots it stands on as if
their bytes were intact, while their proof runs beside it (jobs/merge.py, _take_safety):
the safety snapshot is relied on only once the proof finds what was assumed. One whose
base turns out damaged is dropped and taken again without it: the merge still brings the
rows back, its one safety snapshot restores the database exactly as it was before, and
the damaged snapshot is kept as it is (never Lifeboat's to delete)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db

NOT_AS_WRITTEN = "are not as they were written; it is taken again without them"


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _run(db: Path, *sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    for statement in sql:
        conn.execute(statement)
    conn.close()


def _flip_a_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


def _safety_snapshots(service: Service) -> list[str]:
    return [r.id for r in service.snapshots("notes") if r.manifest.reason == "pre-restore"]


@pytest.mark.parametrize("damaged", [True, False], ids=["base-damaged", "base-intact"])
def test_a_safety_snapshot_on_a_base_found_damaged_beside_it_is_taken_again_whole(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged: bool
):
    db = make_db(tmp_path / "notes.db", rows=3000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False, full=True)  # the rows come from it
    _run(db, "delete from items where id % 50 = 0")
    newest = service.backup("notes", upload=False, full=True)  # the safety's base
    _run(db, "update items set name = 'edited' where id in (3, 1001, 2003)")
    kept = _flip_a_byte(newest.path) if damaged else newest.path.read_bytes()
    before = db_content(db)
    with caplog.at_level(logging.WARNING, logger="lifeboat.jobs.merge"):
        outcome = service.merge_restore(
            "notes", MergeRequest("items", mode="deleted"), snapshot=then.id
        )
    assert outcome.inserted == 60
    assert _safety_snapshots(service) == [outcome.safety_id], "the dropped one is gone"
    safety = service.snapshot(str(outcome.safety_id)).manifest
    if damaged:
        assert NOT_AS_WRITTEN in caplog.text
        assert safety.kind == "full", "nothing of the damaged base is relied on"
    else:
        assert NOT_AS_WRITTEN not in caplog.text
        assert (safety.kind, safety.base) == ("diff", newest.id)
    assert newest.path.read_bytes() == kept, "the damaged snapshot is kept as it is"
    back = tmp_path / "before.db"
    service.restore(str(outcome.safety_id), to=back)
    assert db_content(back) == before


def test_a_damaged_newest_snapshot_the_database_still_equals_is_not_made_a_safety_snapshot(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """With nothing changed since the newest snapshot, that snapshot would be the safety
    snapshot (kept protected instead of a new one): only once its bytes are proven. Found
    damaged beside it, it is left exactly as it was (not protected, not called a safety
    snapshot), and a new whole one is taken."""
    db = make_db(tmp_path / "notes.db", rows=3000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False, full=True)
    _run(db, "delete from items where id % 50 = 0")
    newest = service.backup("notes", upload=False, full=True)  # what the database holds
    was = service.snapshot(newest.id).manifest
    kept = _flip_a_byte(newest.path)
    before = db_content(db)
    with caplog.at_level(logging.WARNING, logger="lifeboat.jobs.merge"):
        outcome = service.merge_restore(
            "notes", MergeRequest("items", mode="deleted"), snapshot=then.id
        )
    assert NOT_AS_WRITTEN in caplog.text
    assert outcome.inserted == 60
    now = service.snapshot(newest.id).manifest
    assert (now.protected, now.reason) == (was.protected, was.reason), "left as it was"
    assert _safety_snapshots(service) == [outcome.safety_id] != [newest.id]
    assert service.snapshot(str(outcome.safety_id)).manifest.kind == "full"
    assert newest.path.read_bytes() == kept
    back = tmp_path / "before.db"
    service.restore(str(outcome.safety_id), to=back)
    assert db_content(back) == before


def test_an_intact_newest_snapshot_the_database_equals_is_the_safety_snapshot(
    service: Service, tmp_path: Path
):
    """The same, proven intact: it is the merge's safety snapshot, kept protected."""
    db = make_db(tmp_path / "notes.db", rows=3000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False, full=True)
    _run(db, "delete from items where id % 50 = 0")
    newest = service.backup("notes", upload=False, full=True)
    outcome = service.merge_restore(
        "notes", MergeRequest("items", mode="deleted"), snapshot=then.id
    )
    assert outcome.safety_id == newest.id
    assert service.snapshot(newest.id).manifest.protected
