"""When a `lifeboat run` daemon schedules this config, the tray shows its status without
scheduling; Back up now still works (run here; the folder lock keeps the two apart); when
the daemon ends, the tray takes over the schedules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lifeboat.core.catalog_records import JobRecord
from lifeboat.core.scheduler_lock import SchedulerLock
from lifeboat.gui.app import TrayApp
from lifeboat.service import Service
from tests.helpers.databases import make_db


def start_daemon(home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "run"],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = SchedulerLock(Service().workspace.paths)
    deadline = time.monotonic() + 20
    while lock.holder() != proc.pid:
        assert time.monotonic() < deadline and proc.poll() is None, "the daemon did not start"
        time.sleep(0.05)
    return proc


def test_the_tray_watches_a_daemon_then_takes_over(
    qtbot, make_tray, two_sources, service: Service, home: Path
):
    daemon = start_daemon(home)
    try:
        tray_app: TrayApp = make_tray()
        assert tray_app.scheduler is None
        assert tray_app.status.watching_pid == daemon.pid
        pause = tray_app.tray.action("pause")
        assert pause.isVisible(), "a pause is kept in a file the daemon follows too"
        assert f"(process {daemon.pid})" in tray_app.tray.toolTip()

        tray_app.tray.action("backup:notes").trigger()

        def backup_job() -> object:
            return next((j for j in service.workspace.catalog.jobs() if j.kind == "backup"), None)

        qtbot.waitUntil(lambda: getattr(backup_job(), "status", "") == "ok", timeout=20_000)
        assert len(service.snapshots("notes")) == 1
        job = backup_job()
        assert (job.pid, job.trigger) == (os.getpid(), "manual")  # run here, by hand

        # a failure the tray reads in the status (whoever ran it) is notified
        crm = two_sources[1]
        crm.rename(crm.with_name("crm.away"))
        tray_app.tray.action("backup:crm").trigger()
        qtbot.waitUntil(
            lambda: [n.title for n in tray_app.notifier.shown] == ["Backup of crm failed"],
            timeout=15_000,
        )

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        qtbot.waitUntil(lambda: tray_app.scheduler is not None, timeout=20_000)
        assert tray_app.status.watching_pid is None
        qtbot.waitUntil(
            lambda: SchedulerLock(service.workspace.paths).holder() == os.getpid(), timeout=10_000
        )
        assert pause.isVisible()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)


def test_back_up_now_while_a_daemon_schedules_uploads_the_snapshot(
    qtbot, make_tray, home: Path, tmp_path: Path, s3_server, bucket: str, file_keyring: Path
):
    """The backup pipeline is one: the tray's Back up now prunes and uploads like the
    daemon's backups do (it used to stop after pruning until the daemon's next backup)."""
    service = Service()
    service.add_remote(
        "offsite",
        provider="minio",
        bucket=bucket,
        endpoint=s3_server.endpoint,
        prefix="lb",
        access_key_id=s3_server.access_key_id,
        secret=s3_server.secret_access_key,
    )
    service.add_source(
        make_db(tmp_path / "notes.db", rows=200), schedule="manual", remote="offsite"
    )
    daemon = start_daemon(home)
    try:
        tray_app: TrayApp = make_tray(app_service=service)
        assert tray_app.scheduler is None
        tray_app.tray.action("backup:notes").trigger()

        def upload_job() -> JobRecord | None:
            """The upload that sent the snapshot (the daemon's start-up may run one more,
            which finds nothing to send)."""
            taken = [s.id for s in service.snapshots("notes")]
            return next(
                (
                    j
                    for j in service.jobs(source="notes")
                    if j.kind == "upload"
                    and j.status == "ok"
                    and set(taken) & set(json.loads(j.detail or "{}").get("uploaded", []))
                ),
                None,
            )

        qtbot.waitUntil(lambda: upload_job() is not None, timeout=30_000)
        [snapshot] = service.snapshots("notes")
        assert [c.remote for c in snapshot.copies] == ["offsite"]
        sent = upload_job()
        assert sent is not None and sent.pid == os.getpid()  # here, right after the backup
        keys = [
            o["Key"]
            for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="lb")["Contents"]
        ]
        assert any(k.endswith(snapshot.manifest.artifact) for k in keys)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
