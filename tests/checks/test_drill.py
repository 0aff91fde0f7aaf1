"""Restore drills: pass on good snapshots, fail loudly (exit 1, recorded, webhook) on bad
ones, never touch the live database and never leave temporary files behind."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.core.manifest import write_manifest
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.progress import CancelToken
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.conftest import set_general, set_source
from tests.helpers.databases import make_db
from tests.helpers.memory_remote import MEMORY_BUCKET, add_memory_remote
from tests.helpers.workfiles import files_under


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "notes.db", rows=300)


@pytest.fixture
def service(home: Path, db: Path) -> Service:
    service = Service(stores=MemoryStores())  # its remote, where a test adds one
    service.add_source(db, name="notes")
    service.backup("notes")
    return service


def leftovers(service: Service) -> list[Path]:
    return files_under(service.workspace.temp_dir(service.workspace.config()))


def drilled_job(service: Service) -> dict[str, object]:
    job = next(j for j in service.workspace.catalog.jobs(source="notes") if j.kind == "drill")
    return {"status": job.status, "error": job.error}


def test_a_good_snapshot_passes_and_nothing_is_touched(service: Service, db: Path, cli) -> None:
    conn = sqlite3.connect(db)
    conn.execute("insert into items(name) values ('second')")
    conn.commit()
    conn.close()
    service.backup("notes")
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    result = cli("drill", "notes", "--json")
    assert result.code == 0, result.err
    [drill] = json.loads(result.out)
    assert drill["passed"] and len(drill["checks"]) == 2  # newest plus an older one
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    assert leftovers(service) == []
    status = json.loads(cli("status", "--json").out)["sources"][0]
    assert status["drill_passed"] is True and status["state"] == "ok"
    assert "local copy of" in status["drill_detail"]


def test_a_corrupted_artifact_fails_is_recorded_and_calls_the_webhook(
    service: Service, home: Path, webhook, cli
) -> None:
    set_general(home, notify_url=webhook.url)
    artifact = service.snapshots("notes")[0].path
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    result = cli("drill", "--all")
    assert result.code == 1
    assert "FAILED" in result.out
    assert drilled_job(service)["status"] == "failed"
    assert "drill-failed" in webhook.events()
    assert leftovers(service) == []
    status = json.loads(cli("status", "--json").out)["sources"][0]
    assert status["drill_passed"] is False and status["state"] == "warning"
    assert "DRILL FAILED" in cli("status").out


def test_drill_sql_that_returns_false_fails(service: Service, home: Path, cli) -> None:
    set_source(home, "notes", drill_sql="select count(*) > 1000 from items")
    result = cli("drill", "notes")
    assert result.code == 1 and "drill_sql returned 0" in result.out
    assert cli("source", "set", "notes", "--drill-sql", "select count(*) > 0 from items").code == 0
    assert cli("drill", "notes").code == 0
    bad = cli("source", "set", "notes", "--drill", "fortnightly")
    assert bad.code == 2 and "unknown schedule 'fortnightly'" in bad.err


def test_row_counts_that_disagree_with_the_manifest_fail(service: Service, cli) -> None:
    record = service.snapshots("notes")[0]
    assert record.manifest.tables is not None
    edited = replace(record.manifest, tables={**record.manifest.tables, "items": 299})
    write_manifest(record.folder, edited, service.workspace.run)
    service.workspace.catalog.update_manifest(edited)
    result = cli("drill", "notes")
    assert result.code == 1 and "row counts differ" in result.out


def test_cancelling_a_drill_leaves_nothing_behind(service: Service) -> None:
    cancel = CancelToken()

    def progress(phase: str, done: int, total: int) -> None:
        cancel.cancel()

    with pytest.raises(Cancelled):
        service.drill("notes", progress=progress, cancel=cancel)
    assert leftovers(service) == []
    assert drilled_job(service)["status"] == "cancelled"


def test_a_corrupted_remote_copy_fails_though_the_local_one_is_fine(service: Service) -> None:
    add_memory_remote(service)
    service.update_source("notes", remote="offsite")
    service.upload("notes")
    record = service.snapshots("notes")[0]
    assert record.copies
    assert service.drill("notes").passed  # the remote copy restores
    bucket = service.stores.bucket(MEMORY_BUCKET)  # type: ignore[attr-defined]
    [key] = [k for k in bucket.objects() if k.endswith(record.manifest.artifact)]
    body = bytearray(bucket.object(key).data)
    body[len(body) // 2] ^= 0xFF
    bucket.write(key, bytes(body))
    result = service.drill("notes")
    assert not result.passed and drilled_job(service)["status"] == "failed"
    [check] = result.checks
    assert check.copy == "offsite" and not check.ok
    assert [r.ok for r in service.verify(record.id)] == [True]  # the local copy is fine
    assert leftovers(service) == []
