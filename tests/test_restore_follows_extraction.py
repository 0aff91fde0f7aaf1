"""In place, SQLite's backup API writes the copy into the database while the copy is still
being extracted (jobs/restore_in_place.py): a snapshot found corrupt near its end rolls
back whatever was written, the safety snapshot taken for it goes, and a program reading
the database never sees a mix. (That steps really run before the copy is whole, and are
rolled back, is shown without timing in tests/core/test_restore_steps.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.service import Service
from tests.helpers.databases import content_digest, integrity, make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def test_corruption_found_late_rolls_back_what_was_written(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=24_000, payload=1000)  # > 2 backup steps
    service.add_source(db)
    snap = service.backup("notes")
    with sqlite3.connect(db) as conn:
        conn.execute("update items set name = 'changed' where id % 5 = 0")
    conn.close()
    before = content_digest(db)
    reader = sqlite3.connect(db, isolation_level=None)
    artifact = bytearray(snap.path.read_bytes())
    artifact[len(artifact) * 9 // 10] ^= 0xFF  # a frame near the end: found last
    snap.path.write_bytes(bytes(artifact))
    with pytest.raises(CorruptSnapshot, match="damaged"):
        service.restore(snap.id)
    assert content_digest(db) == before and integrity(db) == "ok"
    assert reader.execute("select count(*) from items where name = 'changed'").fetchone()[0]
    reader.close()
    reasons = [r.manifest.reason for r in service.snapshots("notes")]
    assert reasons == ["manual"], "the safety snapshot taken for it went"
