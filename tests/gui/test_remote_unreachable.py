"""A remote unreachable for a day: the tray turns to warning and notifies once, and
again when uploads work again. Real scheduler thread, real S3 server process behind a
fault-injecting proxy, real file keyring; a snapshot really taken 36 hours ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.snapshot import take_snapshot
from lifeboat.gui.app import TrayApp
from lifeboat.service import Service
from tests.helpers.databases import make_db
from tests.helpers.workfiles import service_request


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def snapshot_36_hours_ago(service: Service, name: str) -> None:
    # Over a day: not uploaded for too long. Under two days: not overdue yet (a daily
    # schedule's limit), so that no second problem appears while the test runs: at
    # exactly two days the source turned overdue part way through a slow run.
    config = service.workspace.config()
    src = config.source(name)
    folder = service.workspace.snapshot_folder(config, src)
    manifest = take_snapshot(
        service_request(service, name, reason="scheduled"),
        now=datetime.now(UTC) - timedelta(hours=36),
    )
    service.workspace.catalog.add_snapshot(manifest, folder)


def jobs(service: Service, kind: str, status: str) -> int:
    return sum(
        1 for j in service.workspace.catalog.jobs(limit=50) if j.kind == kind and j.status == status
    )


def test_unreachable_remote_warns_once_then_recovers(
    qtbot,
    make_tray,
    service: Service,
    s3_server,
    bucket: str,
    proxy,
    tmp_path: Path,
    instant_retries,
):
    service.add_remote(
        "offsite",
        provider="minio",
        bucket=bucket,
        endpoint=proxy.url,
        prefix="lb",
        access_key_id=s3_server.access_key_id,
        secret=s3_server.secret_access_key,
    )
    service.add_source(
        make_db(tmp_path / "notes.db", rows=200), schedule="manual", remote="offsite"
    )
    snapshot_36_hours_ago(service, "notes")
    proxy.faults.offline = True
    tray_app: TrayApp = make_tray(tick_seconds=0.2)
    tray_app.notifier.min_gap = timedelta(seconds=2)  # the recovery is held this long, not 30 s
    notes = tray_app.notifier.shown

    qtbot.waitUntil(lambda: len(notes) == 1, timeout=30_000)
    assert notes[0].title == "Cannot upload notes" and notes[0].level == "warning"
    assert "offsite" in notes[0].text and "kept on this computer" in notes[0].text
    qtbot.waitUntil(lambda: tray_app.status.state() == "warning", timeout=30_000)
    assert "Cannot upload notes" in tray_app.tray.toolTip()
    qtbot.wait(600)  # more ticks while it is still down: no second notice
    assert len(notes) == 1
    assert jobs(service, "upload", "ok") == 0

    proxy.faults.offline = False
    # Back up now: a backup, then its upload (or, while the first upload still retries,
    # that one gets through).
    tray_app.tray.action("backup-all").trigger()
    qtbot.waitUntil(lambda: len(notes) == 2, timeout=60_000)  # held at most min_gap
    assert (notes[1].title, notes[1].text, notes[1].level) == (
        "Uploads of notes work again",
        "The waiting backups were uploaded.",
        "info",
    )
    qtbot.waitUntil(lambda: tray_app.status.state() == "ok", timeout=30_000)
    assert all(r.copy_on("offsite") for r in service.snapshots("notes"))
