"""The status reads the catalog again only after a commit (issue 22: an idle tray's work
must not grow with the catalog), and what changes with time or with a process's death
alone still shows at once: an overdue backup, a remote left behind, a job whose process
was killed, the next run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.catalog import Catalog
from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.states import Health
from lifeboat.scheduling.health import HealthWatch
from lifeboat.service import Service
from lifeboat.service.notify import Webhook
from lifeboat.storage.memory import MemoryStores
from tests.conftest import set_source
from tests.helpers.databases import make_db
from tests.helpers.memory_remote import MEMORY_BUCKET, add_memory_remote
from tests.helpers.workfiles import service_request


def _snapshot_aged(service: Service, name: str, taken: datetime) -> None:
    """A real snapshot of `name`, dated `taken` (as if taken then)."""
    config = service.workspace.config()
    folder = service.workspace.snapshot_folder(config, config.source(name))
    manifest = take_snapshot(service_request(service, name), now=taken)
    service.workspace.catalog.add_snapshot(manifest, folder)


@pytest.fixture
def service(home: Path, tmp_path: Path) -> Service:
    service = Service()
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    service.status()  # the catalog is made by the first status: nothing to keep before
    return service


def test_the_catalog_is_read_again_only_after_a_commit(service: Service, home: Path):
    service.run_backup("notes")
    kept = service.status_reads
    first = service.status()
    taken = kept.reads_taken
    assert service.status().sources == first.sources and kept.reads_taken == taken

    # another process commits (a backup by the CLI): the next status reads it
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "lifeboat", "backup", "notes", "--full"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    after = service.status()
    assert kept.reads_taken == taken + 1
    assert after.sources[0].snapshots == first.sources[0].snapshots + 1

    # a commit by another connection of this process is seen too
    service.add_event("warning", "a test event", "notes", kind="test:x")
    service.status()
    assert kept.reads_taken == taken + 2
    service.status()
    assert kept.reads_taken == taken + 2


def test_a_catalog_made_anew_is_read_afresh(service: Service, tmp_path: Path):
    service.run_backup("notes")
    assert service.status().sources[0].snapshots == 1
    catalog = service.paths.catalog_file
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in os.listdir(catalog.parent):
        if name.startswith(catalog.name):
            shutil.move(catalog.parent / name, aside / name)
    Catalog(catalog)  # an empty one where it was (before a rebuild)
    service.workspace._catalog = None  # as a process started now would open it
    assert service.status().sources[0].snapshots == 0


def test_an_overdue_backup_shows_with_time_alone(service: Service, home: Path):
    """Nothing is committed between the two looks: only the clock moves on."""
    set_source(home, "notes", schedule="manual", stale_after="1d")
    now = datetime.now(UTC)
    _snapshot_aged(service, "notes", now - timedelta(hours=23))
    watch = HealthWatch(service, Webhook(None))
    watch.load()
    assert watch.check(now, UTC) == []
    taken = service.status_reads.reads_taken
    later = now + timedelta(hours=2)
    (change,) = watch.check(later, UTC)
    assert change.after is not None and change.after.kind == Health.STALE
    assert service.status(later).sources[0].stale
    assert service.status_reads.reads_taken == taken + 1  # the notice was recorded: 1 read


def test_the_next_run_moves_on_with_the_clock(service: Service):
    now = datetime.now(UTC)
    first = service.status(now).sources[0].next_run
    taken = service.status_reads.reads_taken
    assert first is not None
    later = service.status(first + timedelta(minutes=1)).sources[0].next_run
    assert later is not None and later - first == timedelta(days=1)
    assert service.status_reads.reads_taken == taken


def test_a_remote_left_behind_shows_with_time_alone(home: Path, tmp_path: Path):
    service = Service(stores=MemoryStores([MEMORY_BUCKET]))
    add_memory_remote(service, bucket=MEMORY_BUCKET + "-gone")  # unreachable
    service.add_source(make_db(tmp_path / "notes.db"), schedule="manual", remote="offsite")
    now = datetime.now(UTC)
    _snapshot_aged(service, "notes", now - timedelta(hours=23))
    assert service.status(now).sources[0].uploads_pending == 1
    assert not service.status(now).sources[0].remote_behind
    assert service.status(now + timedelta(hours=2)).sources[0].remote_behind


CHILD = """
import sys
from lifeboat.service import Service
service = Service()
service.workspace.catalog.start_job("backup", "notes", "manual")
print("running", flush=True)
sys.stdin.read()
"""


def test_a_job_whose_process_was_killed_stops_running_without_a_commit(
    service: Service, home: Path
):
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "running"
        source = service.status().sources[0]
        assert source.running and source.backing_up
        taken = service.status_reads.reads_taken
        os.kill(child.pid, signal.SIGKILL)  # it records nothing more
        child.wait(timeout=60)
        source = service.status().sources[0]
        assert not source.running and not source.backing_up
        assert service.status_reads.reads_taken == taken
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
