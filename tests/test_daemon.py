"""A real `lifeboat run` process: scheduled runs in order, no overlaps, failures retried,
clean exits.

Nothing here waits a fixed time or bounds how late something may be: the test waits for
the jobs themselves to be recorded, and checks the order of events. Exactly when a
schedule fires is proven where time can be read without waiting for it
(tests/scheduling/test_scheduler.py::test_an_interval_schedule_is_set_for_the_clock_marks,
tests/core/test_schedule_times.py).
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from lifeboat.service import Service
from tests.conftest import cli_process, set_general, set_source
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.scheduling.test_scheduler import old_snapshot

#: The daemon gives a running job 4 s to stop and its notices 1 s to go out. A stop
#: slower than this waited for something it should have cancelled.
STOP_LIMIT_S = 30.0


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
    try:
        _, err = proc.communicate(timeout=STOP_LIMIT_S * 2)
    except subprocess.TimeoutExpired:
        proc.kill()  # a daemon that did not stop must not outlive the test
        proc.communicate()
        raise
    return time.monotonic() - started, err


def marks_between(start: datetime, end: datetime, every_s: int) -> int:
    """How many times a clock mark (a multiple of `every_s` seconds) passed in (start, end]."""
    return int(end.timestamp() // every_s) - int(start.timestamp() // every_s)


def test_daemon_runs_sources_on_schedule_survives_failures_and_stops_cleanly(
    home: Path, tmp_path: Path
):
    service = Service()
    service.add_source(make_db(tmp_path / "fast.db", rows=300), schedule="every 10s")
    broken = make_db(tmp_path / "broken.db", rows=50)
    service.add_source(broken, schedule="every 10s")
    service.add_source(make_db(tmp_path / "daily.db", rows=50), schedule="daily 03:00")
    old_snapshot(service, "daily", timedelta(days=2))
    set_general(home, retry_delays="2s,4s")
    broken.unlink()

    def recorded(source: str, status: str | None = None) -> list:
        return [
            j
            for j in service.jobs(limit=500, source=source)
            if j.kind == "backup" and (status is None or j.status == status)
        ]

    def all_done() -> bool:
        return (
            len(recorded("fast", "ok")) >= 3  # the catch-up and two scheduled runs
            and {2, 3} <= {j.attempt for j in recorded("broken", "failed")}
            and bool(recorded("daily", "ok"))
        )

    started = datetime.now(UTC)
    proc = start_daemon(home)
    try:
        lock = service.scheduler_lock()
        wait_until(lambda: lock.holder() == proc.pid, "the daemon to take the lock", process=proc)
        second = cli_process(home, "run", timeout=60)
        assert second.returncode == 2
        assert "already schedules backups" in second.stderr and "Traceback" not in second.stderr
        status = json.loads(cli_process(home, "status", "--json").stdout)
        assert status["scheduler_pid"] == proc.pid
        wait_until(all_done, "the scheduled runs and the retries", timeout=180, process=proc)
    finally:
        took, err = stop(proc)
    stopped = datetime.now(UTC)
    assert proc.returncode == 0, err
    assert took < STOP_LIMIT_S, f"took {took:.1f} s to stop"
    history = jobs(home)

    fast = sorted(
        (j for j in history if j["source"] == "fast" and j["kind"] == "backup"),
        key=lambda j: j["id"],
    )
    ok = [j for j in fast if j["status"] == "ok"]
    assert len(ok) >= 3, fast
    assert ok[0]["trigger"] == "catch-up"
    assert all(job["trigger"] == "scheduled" for job in ok[1:]), ok
    spans = [(parse(j["started_at"]), parse(j["finished_at"])) for j in ok]
    assert all(a[1] <= b[0] for a, b in pairwise(spans)), "overlapping"
    # Scheduled runs come from the clock marks: never more of them than marks passed.
    scheduled = [j for j in fast if j["trigger"] == "scheduled"]
    assert len(scheduled) <= marks_between(started, stopped, 10), scheduled
    assert all(parse(j["queued_at"]) > started for j in scheduled)

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
    paused = tmp_path / "before-ran"
    hook_s = 10 * STOP_LIMIT_S  # a stop that waited for the hook would take this long
    set_source(
        home,
        "notes",
        before=[
            sys.executable,
            "-c",
            f"import time; open({str(paused)!r}, 'w').write('x'); time.sleep({hook_s})",
        ],
        after=[sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"],
    )
    proc = start_daemon(home)
    try:
        # the before hook running (the app paused), not only the job: a job cancelled
        # before its before hook ran has nothing to resume, and runs no after hook
        wait_until(paused.exists, "the before hook to start", process=proc)
    finally:
        took, err = stop(proc)
    assert proc.returncode == 0, err
    assert took < STOP_LIMIT_S, f"took {took:.1f} s to stop"
    job = next(j for j in jobs(home) if j["kind"] == "backup")
    assert job["status"] == "cancelled"
    assert marker.exists(), "the after hook did not run to resume the app"


#: tgkill(2)'s number, to send a signal to one thread of another process.
_TGKILL = {"x86_64": 234, "aarch64": 131}


def _signal_thread(pid: int, tid: int, signum: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_TGKILL[platform.machine()], pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in _TGKILL, reason="needs Linux tgkill"
)
def test_a_sigterm_the_kernel_hands_to_another_thread_still_stops_the_daemon(
    home: Path, tmp_path: Path
):
    """The kernel may deliver a process's SIGTERM to any of its threads; Python then only
    flags its handler for the main thread. A main thread asleep in an untimed wait never
    ran it: the daemon did not stop (CI saw it once in a few dozen runs)."""
    service = Service()
    service.add_source(make_db(tmp_path / "notes.db", rows=50), schedule="daily 03:00")
    proc = start_daemon(home)
    try:
        lock = service.scheduler_lock()
        wait_until(lambda: lock.holder() == proc.pid, "the daemon to take the lock", process=proc)

        def others() -> list[int]:
            return [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]

        # Its threads start after the handler is set (cmd_run sets it before the scheduler).
        wait_until(lambda: bool(others()), "the daemon's threads to start", process=proc)
        started = time.monotonic()
        _signal_thread(proc.pid, others()[0], signal.SIGTERM)
        _, err = proc.communicate(timeout=STOP_LIMIT_S * 2)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < STOP_LIMIT_S, f"took {took:.1f} s to stop"
    assert "received SIGTERM" in err
