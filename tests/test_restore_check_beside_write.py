"""An in-place restore checks the verified copy while it writes it into the database:
the write commits only once the check passed. A copy that fails it (here an index that
integrity_check finds wrong and quick_check does not look at: the snapshot was taken
with quick, the source now asks for full) leaves the database exactly as it was, and
no safety snapshot taken for it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.service import Service
from tests.helpers.databases import db_content


def _database_with_a_wrong_index(path: Path, rows: int, wal: bool) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.execute("create table t(id integer primary key, a, b, body)")
    conn.execute("begin")
    conn.executemany(
        "insert into t(a, b, body) values (?, ?, randomblob(3000))",
        [(i, -i) for i in range(rows)],
    )
    conn.execute("commit")
    conn.execute("create index i on t(a)")
    # the index now says it holds column b: its entries (of a) are all wrong
    conn.execute("pragma writable_schema=on")
    conn.execute("update sqlite_master set sql = 'CREATE INDEX i ON t(b)' where name = 'i'")
    conn.execute("pragma writable_schema=off")
    conn.close()
    return path


def _file_state(db: Path) -> str:
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return hashlib.sha256(db.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("rows", "wal"),
    [(100, True), (7000, True), (7000, False)],
    ids=["one-step-wal", "many-steps-wal", "many-steps-rollback"],
)
def test_a_copy_that_fails_its_check_is_never_committed(
    home: Path, tmp_path: Path, rows: int, wal: bool
):
    service = Service()
    db = _database_with_a_wrong_index(tmp_path / "app.db", rows, wal)
    service.add_source(db, schedule="manual", check="quick")
    snap = service.backup("app", upload=False)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table later(x)")  # what the restore would change
    conn.execute("insert into later values ('kept unless restored')")
    conn.close()
    before, state = db_content(db), _file_state(db)
    service.update_source("app", check="full")
    with pytest.raises(CorruptSnapshot, match="fails its integrity check"):
        service.restore(snap.id)
    assert db_content(db) == before and _file_state(db) == state, "nothing was changed"
    reasons = [s.manifest.reason for s in service.snapshots("app")]
    assert reasons == ["manual"], "the safety snapshot taken for it is gone"
    # the same restore with the check it was taken with goes through
    service.update_source("app", check="quick")
    outcome = service.restore(snap.id)
    assert outcome.safety_snapshot is not None
    assert len(db_content(db)["t"]) == rows and "later" not in db_content(db)
