"""The catalog: an index that two processes can write at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.catalog import Catalog
from lifeboat.core.manifest import Manifest
from lifeboat.foundation.errors import NotFound

WORKER = """
import sys
from lifeboat.core.catalog import Catalog
cat = Catalog(sys.argv[1])
for i in range(150):
    job = cat.start_job("backup", sys.argv[2], "test")
    cat.add_event("info", f"event {i}", sys.argv[2])
    cat.finish_job(job, "ok")
"""


def manifest(snap_id: str, source: str = "notes", minute: int = 0) -> Manifest:
    return Manifest(
        id=snap_id,
        source=source,
        created_at=datetime(2026, 1, 1, 12, minute, tzinfo=UTC),
        artifact=f"{source}-20260101T12{minute:02d}00Z-{snap_id}.sqlite.zst",
        size=10,
        sha256="0" * 64,
        db_size=4096,
        page_size=4096,
        page_count=1,
        check_mode="quick",
        check_result="ok",
        sqlite_version="3.40.1",
        reason="manual",
        protected=False,
        source_path="/x.db",
        journal_mode="wal",
        compression="zstd-3",
        lifeboat_version="0",
        duration_s=0.1,
    )


def test_two_processes_write_at_once(tmp_path: Path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), name])
        for name in ("tray", "cli")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    catalog = Catalog(path)
    jobs = catalog.jobs(limit=1000)
    assert len(jobs) == 300 and all(j.status == "ok" for j in jobs)
    assert len(catalog.events(limit=1000)) == 300


def test_snapshots_newest_first_and_prefix_lookup(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_snapshot(manifest("aaaa0001", minute=1), tmp_path)
    catalog.add_snapshot(manifest("aaaa0002", minute=2), tmp_path)
    catalog.add_snapshot(manifest("bbbb0003", "other", minute=3), tmp_path)
    assert [r.id for r in catalog.snapshots()] == ["bbbb0003", "aaaa0002", "aaaa0001"]
    assert [r.id for r in catalog.snapshots("notes")] == ["aaaa0002", "aaaa0001"]
    assert catalog.snapshot("bbbb").id == "bbbb0003"
    with pytest.raises(NotFound, match="ambiguous"):
        catalog.snapshot("aaaa")
    with pytest.raises(NotFound, match="no snapshot"):
        catalog.snapshot("cccc")
    with pytest.raises(NotFound, match="not a snapshot id"):
        catalog.snapshot("../x")


def test_replace_keeps_verification_of_survivors(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    first, second = manifest("aaaa0001", minute=1), manifest("aaaa0002", minute=2)
    catalog.add_snapshot(first, tmp_path)
    catalog.add_snapshot(second, tmp_path)
    catalog.set_status("aaaa0001", "corrupt", "bad hash", datetime.now(UTC))
    catalog.replace_folder_snapshots(tmp_path, [(first, tmp_path, "ok")])
    records = catalog.snapshots()
    assert [r.id for r in records] == ["aaaa0001"]
    assert records[0].status == "corrupt"


def test_a_version_1_catalog_is_migrated(tmp_path: Path):
    import sqlite3

    from lifeboat.core.catalog_file import _SCHEMA

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for statement in _SCHEMA[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("insert into events(at, level, source, message) values ('t','info','a','m')")
    conn.execute("pragma user_version=1")
    conn.commit()
    conn.close()
    catalog = Catalog(path)
    catalog.add_event("warning", "stale", "a", kind="health:stale")
    assert catalog.last_event_kind("a", "health:") == "health:stale"
    assert len(catalog.events()) == 2


def test_copies_recorded_before_version_5_are_not_taken_as_proven(tmp_path: Path):
    """An older Lifeboat counted copies it had not proven: after the upgrade they count
    only once the next upload has proven them."""
    import sqlite3
    from dataclasses import replace

    from lifeboat.core.catalog_file import _SCHEMA
    from lifeboat.core.catalog_records import RemoteCopy

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for script in _SCHEMA[:4]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("pragma user_version=4")
    conn.commit()
    conn.close()
    catalog = Catalog(path)
    m = manifest("aaaa0001")
    catalog.add_snapshot(m, tmp_path)
    with sqlite3.connect(path) as conn:  # as a version-4 Lifeboat wrote it
        conn.execute(
            "insert into remote_copies(snapshot_id, remote, key, manifest_key, size, sha256,"
            " encrypted, uploaded_at) values ('aaaa0001','offsite','k','k.json',10,?,0,'t')",
            (m.sha256,),
        )
    conn.close()
    (record,) = catalog.snapshots()
    copy = record.copy_on("offsite")
    assert copy is not None and not copy.proven and copy.proof_failed is None
    assert record.proven_copy_on("offsite") is None
    assert record.locations == ["local", "offsite (not proven yet)"]

    catalog.set_copy_proof("aaaa0001", replace(copy, key="other"), None)  # not this copy
    assert not catalog.snapshot("aaaa0001").copy_on("offsite").proven
    catalog.set_copy_proof("aaaa0001", copy, "read back, it differs")
    failed = catalog.snapshot("aaaa0001").copy_on("offsite")
    assert not failed.proven and failed.proof_failed == "read back, it differs"
    assert catalog.snapshot("aaaa0001").locations == [
        "local",
        "offsite (does not match its manifest)",
    ]
    catalog.set_copy_proof("aaaa0001", copy)
    assert catalog.snapshot("aaaa0001").proven_copy_on("offsite") is not None
    catalog.add_remote_copy("aaaa0001", RemoteCopy("b", "k2", "k2.json", 10, m.sha256, False, "t"))
    assert catalog.snapshot("aaaa0001").proven_copy_on("b") is not None, "an upload's: proven"
