"""Backing up an unchanged database stores no new snapshot: the backup is a success that
names the snapshot already holding the data, and it counts as the schedule's backup."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.manifest import Manifest, iso_utc
from lifeboat.core.schedule import parse_schedule
from lifeboat.core.schedule_times import covered
from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.events import JobFinished
from lifeboat.foundation.states import Trigger
from lifeboat.service import Service
from lifeboat.service.problems import problems_of
from lifeboat.storage.memory import MemoryStores
from tests.conftest import cli_process, set_source
from tests.helpers.databases import change_db, make_db
from tests.helpers.killing import kill_during_work, time_work
from tests.helpers.memory_remote import add_memory_remote
from tests.helpers.workfiles import files_under, service_request


def stored(home: Path, source: str = "notes") -> dict[str, bytes]:
    """Every file in the source's snapshot folder, with its bytes."""
    folder = home / "snapshots" / source
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_the_cli_stores_an_unchanged_database_once_and_a_change_again(cli, db: Path, home: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    first = json.loads(cli("backup", "notes", "--json").out)
    assert first["unchanged"] is False
    before = stored(home)
    again = cli("backup", "notes")
    assert again.code == 0, again.err
    assert "unchanged since the snapshot of" in again.out and first["id"] in again.out
    assert "nothing new stored" in again.out
    same = json.loads(cli("backup", "notes", "--json").out)
    assert same["unchanged"] is True and same["id"] == first["id"]
    assert stored(home) == before, "nothing was written"
    assert len(json.loads(cli("snapshots", "--json").out)) == 1
    job = json.loads(cli("jobs", "--json").out)
    backups = [j for j in job if j["kind"] == "backup"]
    assert backups[0]["status"] == "ok"
    assert backups[0]["detail"]["unchanged_since"] == first["id"]

    change_db(db)
    changed = json.loads(cli("backup", "notes", "--json").out)
    assert changed["unchanged"] is False and changed["id"] != first["id"]
    assert len(json.loads(cli("snapshots", "--json").out)) == 2


@pytest.mark.parametrize("asked", [["--full"], ["--protect"], ["--reason", "pre-migration"]])
def test_a_snapshot_asked_for_by_name_is_always_stored(cli, db: Path, asked: list[str]):
    """--full asks for a new whole snapshot; --protect and a reason of one's own ask for a
    snapshot kept for that reason: each is stored even when nothing changed."""
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    assert cli("backup", "notes").code == 0
    taken = json.loads(cli("backup", "notes", *asked, "--json").out)
    assert taken["unchanged"] is False
    assert len(json.loads(cli("snapshots", "--json").out)) == 2


def test_the_after_hook_runs_for_an_unchanged_database(home: Path, db: Path, tmp_path: Path):
    service = Service()
    marker = tmp_path / "after.txt"
    service.add_source(db, name="notes")
    first = service.backup("notes")
    script = (
        "import os, sys; open(sys.argv[1], 'a').write(' '.join(os.environ.get(k, '-') for k"
        " in ('LIFEBOAT_RESULT', 'LIFEBOAT_SNAPSHOT_ID', 'LIFEBOAT_UNCHANGED')))"
    )
    set_source(home, "notes", after=[sys.executable, "-c", script, str(marker)])
    finished: list[JobFinished] = []
    service.subscribe(lambda e: finished.append(e) if isinstance(e, JobFinished) else None)
    outcome = service.run_backup("notes")
    assert outcome.status == "ok" and outcome.unchanged
    assert outcome.snapshot is not None and outcome.snapshot.id == first.id
    assert marker.read_text().split() == ["ok", first.id, "1"]
    backup = next(e for e in finished if e.kind == "backup")
    assert backup.unchanged_since == first.id and backup.snapshot_id is None
    assert [e.kind for e in finished] == ["backup"], "no prune, no upload for nothing new"


def test_a_damaged_newest_snapshot_is_not_trusted_to_hold_the_data(home: Path, db: Path):
    """Only a snapshot proven intact stands for the database: one whose bytes changed
    since does not, and the backup stores a new one."""
    service = Service()
    service.add_source(db, name="notes")
    first = service.backup("notes")
    artifact = first.path
    os.chmod(artifact, 0o600)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    outcome = service.run_backup("notes")
    assert not outcome.unchanged
    assert outcome.snapshot is not None and outcome.snapshot.id != first.id


def test_an_encrypted_source_is_compared_and_not_stored_again(
    home: Path, tmp_path: Path, file_keyring: Path
):
    service = Service(stores=MemoryStores())
    service.init_key()
    db = make_db(tmp_path / "secret.db", rows=50)
    service.add_source(db, name="secret", encrypt_local=True)
    first = service.backup("secret")
    assert first.manifest.local_encryption is not None
    before = stored(home, "secret")
    outcome = service.run_backup("secret")
    assert outcome.unchanged and outcome.snapshot is not None
    assert outcome.snapshot.id == first.id
    assert stored(home, "secret") == before
    assert not files_under(home / "tmp"), "no plain copy is left in scratch"
    change_db(db)
    assert not service.run_backup("secret").unchanged


def test_an_unchanged_backup_still_sends_a_snapshot_that_waits_for_its_upload(home: Path, db: Path):
    stores = MemoryStores()
    service = Service(stores=stores)
    add_memory_remote(service, "offsite")
    service.add_source(db, name="notes", remote="offsite")
    first = service.run_backup("notes", upload=False)
    assert first.uploaded is None and service.pending_uploads("notes")
    again = service.run_backup("notes")
    assert again.unchanged and again.upload_error is None
    assert again.uploaded == [first.snapshot.id if first.snapshot else ""]
    assert not service.pending_uploads("notes")
    third = service.run_backup("notes")
    assert third.unchanged and third.uploaded == []


def take_dated_snapshot(service: Service, name: str, when: datetime) -> Manifest:
    """A real snapshot of `name` taken as the schedule takes one, dated `when`."""
    config = service.workspace.config()
    folder = service.workspace.snapshot_folder(config, config.source(name))
    manifest = take_snapshot(service_request(service, name, reason="scheduled"), now=when)
    service.workspace.catalog.add_snapshot(manifest, folder)
    return manifest


def _as_if_run_at(service: Service, moment: datetime) -> None:
    """Date the newest job (and a snapshot it took) as if it ran at `moment`: the catalog
    records the real clock, and a test cannot wait days."""
    catalog = service.workspace.paths.catalog_file
    when = iso_utc(moment)
    with sqlite3.connect(catalog) as conn:
        job_id, snapshot = conn.execute(
            "select id, snapshot_id from jobs where kind='backup' order by id desc limit 1"
        ).fetchone()
        conn.execute(
            "update jobs set queued_at=?, started_at=?, finished_at=? where id=?",
            (when, when, when, job_id),
        )
    conn.close()
    assert snapshot is None, "the scheduled runs store nothing: the database is unchanged"


def test_a_daily_schedule_of_an_unchanged_database_is_never_overdue(home: Path, db: Path):
    """Six days of scheduled backups of a database nobody writes to: each run proves it
    unchanged and stores nothing, each day's period counts as covered, and the database
    is never overdue (though its only snapshot is six days old)."""
    service = Service()
    service.add_source(db, name="notes", schedule="daily 03:00")
    today = datetime.now(UTC) - timedelta(minutes=1)
    first = take_dated_snapshot(service, "notes", today - timedelta(days=6))
    schedule = parse_schedule("daily 03:00")
    assert service.status(today - timedelta(days=4)).sources[0].stale, "overdue before"
    for days_ago in range(5, -1, -1):
        now = today - timedelta(days=days_ago)
        outcome = service.run_backup(
            "notes", reason="scheduled", trigger=Trigger.SCHEDULED, skip_if_covered=True
        )
        assert outcome.status == "ok" and outcome.unchanged, f"{days_ago}: {outcome.message}"
        _as_if_run_at(service, now)
        status = service.status(now + timedelta(hours=20)).sources[0]
        assert not status.stale and not problems_of([status], now), f"{days_ago} days ago"
        assert status.last_snapshot is not None
        assert abs(status.last_snapshot - first.created_at) < timedelta(seconds=1)
        assert status.last_backup is not None and abs(status.last_backup - now) < timedelta(
            seconds=1
        )
        assert status.unchanged_since == first.id and status.last_result == "ok"
        assert covered(schedule, status.last_backup, now + timedelta(minutes=5))
    assert [r.id for r in service.snapshots("notes")] == [first.id], "one snapshot, never more"
    again = service.run_backup(
        "notes", reason="scheduled", trigger=Trigger.SCHEDULED, skip_if_covered=True
    )
    assert again.status == "skipped", "the check a minute ago covers today's period"
    assert "already covers" in again.message


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killing_an_unchanged_backup_leaves_nothing(home: Path, tmp_path: Path):
    """An unchanged backup writes nothing in the snapshot folder: killed at any moment,
    the folder holds exactly what it held, and the next run leaves no work file."""
    db = make_db(tmp_path / "big.db", rows=20_000, payload=1000)
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    assert cli_process(home, "backup", "notes").returncode == 0
    before = stored(home)
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    command = [sys.executable, "-m", "lifeboat", "backup", "notes"]
    work_s = time_work(home, command, env)
    kill_during_work(home, command, env, kills=4, work_s=work_s, seed=3)
    final = cli_process(home, "backup", "notes", "--json")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["unchanged"] is True
    assert stored(home) == before
    assert not files_under(home / "tmp")
