"""A real `lifeboat run` process: on time, no overlaps, failures retried, clean exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from lifeboat.service import Service
from tests.conftest import cli_process, set_general, set_source
from tests.helpers.databases import make_db
from tests.scheduling.test_scheduler import old_snapshot


def start_daemon(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def parse(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def jobs(home: Path) -> list[dict]:
    result = cli_process(home, "jobs", "--json", "--limit", "500")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stop(proc: subprocess.Popen[str]) -> tuple[float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return time.monotonic() - started, err


def test_daemon_runs_sources_on_time_survives_failures_and_stops_cleanly(
    home: Path, tmp_path: Path, monkeypatch
):
    service = Service()
    service.add_source(make_db(tmp_path / "fast.db", rows=300), schedule="every 10s")
    broken = make_db(tmp_path / "broken.db", rows=50)
    service.add_source(broken, schedule="every 10s")
    service.add_source(make_db(tmp_path / "daily.db", rows=50), schedule="daily 03:00")
    old_snapshot(service, "daily", timedelta(days=2))
    set_general(home, retry_delays="2s,4s")
    broken.unlink()
    proc = start_daemon(home)
    try:
        time.sleep(33)
        second = cli_process(home, "run", timeout=30)
        assert second.returncode == 2
        assert "already schedules backups" in second.stderr and "Traceback" not in second.stderr
        status = json.loads(cli_process(home, "status", "--json").stdout)
        assert status["scheduler_pid"] == proc.pid
    finally:
        took, err = stop(proc)
    assert proc.returncode == 0, err
    assert took < 5, f"took {took:.1f} s to stop"
    history = jobs(home)

    fast = sorted(
        (j for j in history if j["source"] == "fast" and j["kind"] == "backup"),
        key=lambda j: j["id"],
    )
    ok = [j for j in fast if j["status"] == "ok"]
    assert len(ok) >= 3, fast
    assert ok[0]["trigger"] == "catch-up"
    for job in ok[1:]:  # scheduled runs start on the 10-second marks
        assert job["trigger"] == "scheduled"
        assert parse(job["started_at"]).second % 10 < 3, job["started_at"]
    spans = [(parse(j["started_at"]), parse(j["finished_at"])) for j in ok]
    assert all(a[1] <= b[0] for a, b in pairwise(spans)), "overlapping"

    failing = sorted(
        (
            j
            for j in history
            if j["source"] == "broken" and j["kind"] == "backup" and j["status"] == "failed"
        ),
        key=lambda j: j["id"],
    )
    assert failing and all("no such file" in j["error"] for j in failing)
    attempts = [j["attempt"] for j in failing]
    assert 2 in attempts and 3 in attempts, attempts
    retries = [j for j in failing if j["trigger"] == "retry"]
    first_retry = next(j for j in retries if j["attempt"] == 2)
    before = max(
        (j for j in failing if j["id"] < first_retry["id"] and j["attempt"] == 1),
        key=lambda j: j["id"],
    )
    gap = parse(first_retry["started_at"]) - parse(before["finished_at"])
    assert gap >= timedelta(seconds=1.8), gap

    daily = [j for j in history if j["source"] == "daily" and j["kind"] == "backup"]
    assert [j["trigger"] for j in daily] == ["catch-up"], "one catch-up, not one per day"
    assert not [j for j in history if j["status"] in ("queued", "running")]


def test_sigterm_cancels_the_running_job_and_records_it(home: Path, tmp_path: Path):
    service = Service()
    service.add_source(make_db(tmp_path / "notes.db", rows=50), schedule="daily 03:00")
    marker = tmp_path / "after-ran"
    set_source(
        home,
        "notes",
        before=[sys.executable, "-c", "import time; time.sleep(60)"],
        after=[sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"],
    )
    proc = start_daemon(home)
    try:
        deadline = time.monotonic() + 20
        while not any(j["status"] == "running" for j in jobs(home)):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        took, err = stop(proc)
    assert proc.returncode == 0, err
    assert took < 5
    job = next(j for j in jobs(home) if j["kind"] == "backup")
    assert job["status"] == "cancelled"
    assert marker.exists(), "the after hook did not run to resume the app"
