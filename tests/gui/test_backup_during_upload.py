""" "Back up now" stays open while an upload of the same database runs: the backup waits
its turn in the queue. (The tray greyed it for any running job, and a status read while an
upload ran made the menu ignore the click.) Real scheduler thread, real S3 server process
behind a proxy that holds the upload, real file keyring."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.gui.app import TrayApp
from lifeboat.service import Service
from tests.helpers.databases import make_db


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def test_back_up_now_while_an_upload_runs(
    qtbot, make_tray, service: Service, s3_server, bucket: str, proxy, tmp_path: Path
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
    db = make_db(tmp_path / "notes.db", rows=200)
    service.add_source(db, schedule="manual", remote="offsite")
    service.run_backup("notes", upload=False)
    with sqlite3.connect(db) as conn:  # a change, so that the next backup is a new snapshot
        conn.execute("delete from items where id = 1")
    proxy.faults.hold = "/lb/"  # every upload's body waits until this is cleared
    try:
        tray_app: TrayApp = make_tray(tick_seconds=0.2)
        qtbot.waitUntil(lambda: proxy.injected["held"] > 0, timeout=30_000)
        tray_app.status.refresh()
        qtbot.waitUntil(lambda: any(s.running for s in tray_app.status.sources), timeout=30_000)
        action = tray_app.tray.action("backup-all")
        assert action.isEnabled()
        action.trigger()
        qtbot.waitUntil(
            lambda: any(
                j.kind == "backup" and j.trigger == "manual"
                for j in service.workspace.catalog.jobs(limit=20)
            ),
            timeout=30_000,
        )
    finally:
        proxy.faults.hold = ""
    qtbot.waitUntil(lambda: len(service.snapshots("notes")) == 2, timeout=60_000)
