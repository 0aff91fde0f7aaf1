"""The scheduler in this process, with real databases, threads and an HTTP server."""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.events import RetryScheduled, SourceHealth
from lifeboat.scheduling.scheduler import Scheduler
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.conftest import set_general, set_source
from tests.helpers.appdb import corrupt_page
from tests.helpers.databases import change_db, make_db
from tests.helpers.memory_remote import MEMORY_BUCKET, add_memory_remote
from tests.helpers.waiting import GENEROUS_S, wait_until
from tests.helpers.workfiles import service_request


def wait_for(condition, timeout: float = GENEROUS_S) -> None:
    wait_until(condition, "the condition", timeout=timeout)


def idle(scheduler: Scheduler) -> bool:
    """Nothing queued or running, and every finished job's follow-up (a retry planned, a
    notice sent) done: the queue calls it before it lets go of the job."""
    return not scheduler.queue.running() and not scheduler.queue.waiting()


def planned_retries(scheduler: Scheduler) -> list[str]:
    return [job.id for job in scheduler._aps.get_jobs() if job.id.startswith("retry:")]


def old_snapshot(service: Service, name: str, age: timedelta) -> None:
    """A real snapshot of `name`, dated `age` ago (as if taken then)."""
    config = service.workspace.config()
    src = config.source(name)
    folder = service.workspace.snapshot_folder(config, src)
    manifest = take_snapshot(service_request(service, name), now=datetime.now(UTC) - age)
    service.workspace.catalog.add_snapshot(manifest, folder)


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def backups(service: Service, name: str) -> list[str]:
    return [r.manifest.reason for r in service.snapshots(name)]


def test_catch_up_once_on_start_for_a_two_day_old_daily_source(service: Service, tmp_path: Path):
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    service.add_source(make_db(tmp_path / "fresh.db"), schedule="daily 03:00")
    service.add_source(make_db(tmp_path / "never.db"), schedule="weekly mon 03:00")
    service.add_source(make_db(tmp_path / "byhand.db"), schedule="manual")
    old_snapshot(service, "notes", timedelta(days=2))
    change_db(tmp_path / "notes.db")  # written to since: the catch-up stores a snapshot
    service.backup("fresh")
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        wait_for(
            lambda: len(backups(service, "notes")) == 2 and len(backups(service, "never")) == 1
        )
        scheduler.tick()  # the periodic check finds nothing missed now
        wait_for(lambda: idle(scheduler))
        assert backups(service, "notes") == ["catch-up", "manual"], "one catch-up, no more"
        assert backups(service, "never") == ["catch-up"]
        assert len(backups(service, "fresh")) == 1
        assert backups(service, "byhand") == []
    finally:
        scheduler.shutdown()


def test_a_snapshot_taken_for_a_reason_of_ones_own_does_not_stand_in_for_a_missed_run(
    service: Service, tmp_path: Path
):
    """Missed the nightly run, then a snapshot 'before the migration' (or a safety copy
    before a restore) and a change: the catch-up still runs, so the change is kept."""
    db = tmp_path / "notes.db"
    service.add_source(make_db(db), schedule="daily 03:00")
    old_snapshot(service, "notes", timedelta(days=2))
    change_db(db)
    service.backup("notes", reason="pre-migration")
    change_db(db)  # the migration
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        wait_for(lambda: "catch-up" in backups(service, "notes"))
    finally:
        scheduler.shutdown()


def test_wall_clock_jump_triggers_catch_up_once(service: Service, tmp_path: Path):
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    service.backup("notes")
    offset = [0.0]
    scheduler = Scheduler(service, wall_clock=lambda: time.time() + offset[0])
    scheduler.start()  # queues, before it returns, every catch-up it finds
    try:
        wait_for(lambda: idle(scheduler))
        assert len(service.snapshots("notes")) == 1
        assert not scheduler.check_clock()
        change_db(tmp_path / "notes.db")  # written to since: the catch-up stores a snapshot
        offset[0] = 3 * 86400.0  # the machine slept for three days
        assert scheduler.check_clock()
        wait_for(lambda: len(service.snapshots("notes")) == 2)
        assert not scheduler.check_clock()
        scheduler.tick()
        wait_for(lambda: idle(scheduler))
        assert len(service.snapshots("notes")) == 2
        assert service.snapshots("notes")[0].manifest.reason == "catch-up"
    finally:
        scheduler.shutdown()


def test_an_interval_schedule_is_set_for_the_clock_marks(service: Service, tmp_path: Path):
    """`every 10s` fires at :00, :10, :20 ... of each minute, whenever it started: read
    from the scheduler's own job, so nothing waits for the clock (the daemon test only
    checks that runs come, in order)."""
    service.add_source(make_db(tmp_path / "notes.db"), schedule="every 10s")
    service.backup("notes")
    before = datetime.now(UTC)
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        after = datetime.now(UTC)
        first = scheduler.next_run("notes")
        assert first is not None
        assert first.second % 10 == 0 and first.microsecond == 0, first
        assert before - timedelta(seconds=1) < first <= after + timedelta(seconds=10)
        trigger = scheduler._aps.get_job("backup:notes").trigger
        following = trigger.get_next_fire_time(first, first + timedelta(milliseconds=1))
        assert following == first + timedelta(seconds=10)
    finally:
        scheduler.shutdown()


def test_a_scheduled_run_skips_when_the_period_is_covered(service: Service, tmp_path: Path):
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    service.backup("notes")
    outcome = service.run_backup("notes", trigger="scheduled", skip_if_covered=True)
    assert outcome.status == "skipped"
    job = service.workspace.catalog.jobs(limit=1, source="notes")[0]
    assert job.status == "skipped" and "already covers" in (job.error or "")
    assert len(service.snapshots("notes")) == 1
    change_db(tmp_path / "notes.db")
    forced = service.run_backup("notes", trigger="manual")
    assert forced.status == "ok" and len(service.snapshots("notes")) == 2


def test_a_pre_restore_safety_snapshot_does_not_cover_the_period(service: Service, tmp_path: Path):
    """After an in-place restore, the next scheduled run backs up the restored data: the
    safety snapshot holds the data from before the restore."""
    db = make_db(tmp_path / "notes.db")
    service.add_source(db, schedule="daily 03:00")
    first = service.backup("notes")
    with sqlite3.connect(db) as conn:  # changed since, so the safety copy is a new one
        conn.execute("create table later(x)")
    conn.close()
    service.restore(first.id)
    reasons = [r.manifest.reason for r in service.snapshots("notes")]
    assert reasons == ["pre-restore", "manual"]
    outcome = service.run_backup("notes", trigger="scheduled", skip_if_covered=True)
    assert outcome.status == "skipped", "the manual backup minutes ago still covers it"
    for record in service.snapshots("notes"):
        if record.manifest.reason == "manual":
            service.workspace.catalog.remove_snapshot(record.id)  # as if long ago
    outcome = service.run_backup("notes", trigger="scheduled", skip_if_covered=True)
    assert outcome.status == "ok", "the pre-restore snapshot does not count"


def test_failures_retry_with_backoff_and_are_recorded(
    service: Service, tmp_path: Path, home: Path, webhook
):
    db = make_db(tmp_path / "notes.db")
    service.add_source(db, schedule="manual")
    set_general(home, retry_delays="1s,2s", notify_url=webhook.url)
    db.rename(tmp_path / "gone.db")
    events: list[object] = []
    service.subscribe(events.append)
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        scheduler.backup_now("notes")
        wait_for(
            lambda: (
                [j.status for j in service.workspace.catalog.jobs(source="notes")] == ["failed"] * 3
            )
        )
        jobs = sorted(service.workspace.catalog.jobs(source="notes"), key=lambda j: j.id)
        assert [j.attempt for j in jobs] == [1, 2, 3]
        assert [j.trigger for j in jobs] == ["manual", "retry", "retry"]
        assert all("no such file" in (j.error or "") for j in jobs)
        starts = [datetime.fromisoformat(j.started_at.replace("Z", "+00:00")) for j in jobs]
        assert starts[1] - starts[0] >= timedelta(seconds=0.9)
        assert starts[2] - starts[1] >= timedelta(seconds=1.9)
        retries = [e for e in events if isinstance(e, RetryScheduled)]
        assert [r.attempt for r in retries] == [2, 3]
        # The third failure's follow-up is done once the queue is idle: no retry is
        # planned, so none can come later.
        wait_for(lambda: idle(scheduler))
        assert planned_retries(scheduler) == [], "retried too often"
        assert len(service.workspace.catalog.jobs(source="notes")) == 3, "retried too often"
        (tmp_path / "gone.db").rename(db)
        scheduler.backup_now("notes")
        wait_for(
            lambda: (
                service.workspace.catalog.jobs(limit=1, source="notes")[0].status == "ok"
                or len(service.snapshots("notes")) == 1
            )
        )
        wait_for(lambda: "recovered" in webhook.events())
    finally:
        scheduler.shutdown()
    health = [e.state for e in events if isinstance(e, SourceHealth)]
    assert health[0] == "failed" and health[-1] == "recovered"
    assert webhook.events().count("failed") == 1, "one notice per streak, not per attempt"
    payload = webhook.received[0]
    assert payload["source"] == "notes" and "no such file" in payload["message"]


def test_hooks_run_around_the_backup(service: Service, tmp_path: Path, home: Path):
    db = make_db(tmp_path / "notes.db")
    service.add_source(db, schedule="manual")
    marks = tmp_path / "marks.txt"
    script = (
        "import os, sys; open(sys.argv[1], 'a').write(os.environ['LIFEBOAT_PHASE'] + ' '"
        " + os.environ.get('LIFEBOAT_RESULT', '-') + '\\n')"
    )
    set_source(
        home,
        "notes",
        before=[sys.executable, "-c", script, str(marks)],
        after=[sys.executable, "-c", script, str(marks)],
    )
    record = service.backup("notes")
    assert marks.read_text().splitlines() == ["before -", "after ok"]
    job = service.workspace.catalog.jobs(limit=1, source="notes")
    backup_job = next(
        j for j in service.workspace.catalog.jobs(source="notes") if j.kind == "backup"
    )
    assert backup_job.snapshot_id == record.id and job
    hooks = backup_job.to_json()["detail"]["hooks"]
    assert [h["name"] for h in hooks] == ["before", "after"] and hooks[0]["exit_code"] == 0

    failing = f"{sys.executable} -c \"import sys; print('app refused to pause'); sys.exit(3)\""
    set_source(home, "notes", before=failing, hook_shell=True)
    from lifeboat.foundation.errors import OperationFailed

    with pytest.raises(OperationFailed, match="before hook exited with status 3: app refused"):
        service.backup("notes")
    assert marks.read_text().splitlines()[-1] == "after failed"
    assert len(service.snapshots("notes")) == 1


def test_hook_timeout(service: Service, tmp_path: Path, home: Path):
    service.add_source(make_db(tmp_path / "notes.db"), schedule="manual")
    hook_s = 600  # a backup that waited for the hook would take this long
    set_source(
        home,
        "notes",
        before=[sys.executable, "-c", f"import time; time.sleep({hook_s})"],
        hook_timeout=1.0,
    )
    from lifeboat.foundation.errors import OperationFailed

    started = time.monotonic()
    with pytest.raises(OperationFailed, match="did not finish within 1 s"):
        service.backup("notes")
    assert time.monotonic() - started < hook_s / 10


def test_metrics_file_and_stale_alarm(service: Service, tmp_path: Path, home: Path, webhook):
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    old_snapshot(service, "notes", timedelta(days=5))
    metrics = tmp_path / "metrics" / "lifeboat.prom"
    set_general(home, metrics_file=str(metrics), notify_url=webhook.url)
    set_source(home, "notes", schedule="manual", stale_after="1d")
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        scheduler.tick()
        wait_for(lambda: "stale" in webhook.events())
        text = metrics.read_text()
        assert 'lifeboat_stale{source="notes"} 1' in text
        assert 'lifeboat_snapshots{source="notes"} 1' in text
        assert "lifeboat_last_success_timestamp_seconds" in text
        scheduler.backup_now("notes")  # unchanged: nothing stored, and no longer overdue
        wait_for(lambda: service.status().sources[0].unchanged_since is not None)
        assert len(service.snapshots("notes")) == 1
        scheduler.tick()
        wait_for(lambda: 'lifeboat_stale{source="notes"} 0' in metrics.read_text())
        wait_for(lambda: "recovered" in webhook.events())
    finally:
        scheduler.shutdown()


def test_a_remote_behind_is_one_streak_until_uploads_catch_up(home: Path, tmp_path: Path):
    service = Service(stores=MemoryStores([MEMORY_BUCKET]))  # that bucket only
    add_memory_remote(service, bucket=MEMORY_BUCKET + "-gone")
    service.add_source(make_db(tmp_path / "notes.db"), schedule="manual", remote="offsite")
    old_snapshot(service, "notes", timedelta(days=2))
    events: list[object] = []
    service.subscribe(events.append)
    scheduler = Scheduler(service)
    scheduler.start()

    def health() -> list[str]:
        return [e.state for e in events if isinstance(e, SourceHealth)]

    try:
        scheduler.tick()
        assert health() == ["remote-unreachable"]
        change_db(tmp_path / "notes.db")
        scheduler.backup_now("notes")  # works, but its upload cannot
        wait_for(lambda: len(service.snapshots("notes")) == 2)
        wait_for(
            lambda: any(
                j.kind == "upload" and j.trigger == "after-backup" and j.status == "failed"
                for j in service.workspace.catalog.jobs()
            )
        )
        scheduler.tick()
        assert health() == ["remote-unreachable"], "a backup does not end the streak"
        service.update_remote("offsite", bucket=MEMORY_BUCKET)
        scheduler.queue_uploads("test")
        wait_for(lambda: health() == ["remote-unreachable", "recovered"])
        assert [e.message for e in events if isinstance(e, SourceHealth)][
            -1
        ] == "notes: uploads work again"
    finally:
        scheduler.shutdown()


def test_drills_run_on_their_own_schedule_and_a_failure_is_reported(
    service: Service, tmp_path: Path, home: Path, webhook
):
    set_general(home, notify_url=webhook.url)
    service.add_source(make_db(tmp_path / "notes.db"), schedule="manual")
    service.update_source(
        "notes", drill="every 10s", drill_sql="select count(*) > 100000 from items"
    )
    service.backup("notes")
    health: list[SourceHealth] = []
    service.subscribe(lambda e: health.append(e) if isinstance(e, SourceHealth) else None)
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        assert scheduler._aps.get_job("drill:notes") is not None
        wait_for(lambda: any(h.state == "drill-failed" for h in health))
        drills = [j for j in service.workspace.catalog.jobs(source="notes") if j.kind == "drill"]
        assert drills[0].status == "failed" and drills[0].trigger == "scheduled"
        wait_for(lambda: "drill-failed" in webhook.events())
        set_source(home, "notes", drill="manual")
        scheduler.tick()  # picks up the changed config
        wait_for(lambda: scheduler._aps.get_job("drill:notes") is None)
    finally:
        scheduler.shutdown()


def test_a_new_database_raises_no_alarm(service: Service, tmp_path: Path, home: Path, webhook):
    """Added seconds ago with a daily schedule: not overdue, no event, no webhook."""
    set_general(home, notify_url=webhook.url)
    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    scheduler = Scheduler(service)
    health: list[SourceHealth] = []
    service.subscribe(lambda e: health.append(e) if isinstance(e, SourceHealth) else None)
    scheduler.start()
    try:
        wait_for(lambda: len(service.snapshots("notes")) == 1)  # its first (catch-up) run
        wait_for(lambda: idle(scheduler))
        scheduler.tick()
        assert not service.status().sources[0].stale
    finally:
        scheduler.shutdown()
    assert health == [] and webhook.events() == []
    assert not [e for e in service.events() if str(e.get("kind") or "").startswith("health:")]


def test_a_damaged_live_database_is_its_own_notice_within_a_failure_streak(
    service: Service, tmp_path: Path, home: Path, webhook
):
    db = make_db(tmp_path / "crm.db", rows=2000)
    set_general(home, notify_url=webhook.url, retry_delays="1h")
    service.add_source(db, schedule="manual")
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        db.rename(tmp_path / "moved.db")  # the first failure: the file is gone
        scheduler.backup_now("crm")
        wait_for(lambda: webhook.events() == ["failed"])
        (tmp_path / "moved.db").rename(db)
        corrupt_page(db, 3)
        scheduler.backup_now("crm")
        wait_for(lambda: webhook.events() == ["failed", "damaged"])
    finally:
        scheduler.shutdown()
    damaged = webhook.received[1]
    assert damaged["detail"] == {"problem": "damaged", "before": "failed"}
    assert str(damaged["message"]).startswith("crm: The database file is damaged")


def test_a_pause_is_kept_across_a_restart_and_ends_at_its_time(service: Service, tmp_path: Path):
    from lifeboat.scheduling.pause import Pause, read_pause, save_pause

    service.add_source(make_db(tmp_path / "notes.db"), schedule="daily 03:00")
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    save_pause(service, Pause(True, until))  # as the tray writes it
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        assert scheduler.paused and scheduler.catch_up("test") == []
        assert scheduler.next_run("notes") is None, "the schedule is held"
        assert service.snapshots("notes") == [], "no catch-up while paused"
    finally:
        scheduler.shutdown()
    assert read_pause(service.paths) == Pause(True, until)
    save_pause(service, Pause(True, datetime.now(UTC) - timedelta(seconds=1)))  # its time came
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        assert not scheduler.paused and scheduler.next_run("notes") is not None
        wait_for(lambda: len(service.snapshots("notes")) == 1)  # the missed run caught up
    finally:
        scheduler.shutdown()
