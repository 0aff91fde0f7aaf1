"""The scheduler: APScheduler triggers feed the job queue; catch-up, retries (retries.py),
health (health.py).

Runs the same in the headless daemon (`lifeboat run`, in the foreground) and in the tray
(hosted in a QThread). It never imports Qt and talks to the service only: it submits
work the service does (the backup pipeline, uploads, drills) and publishes its own
events through the service's hub.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from lifeboat.core.config_model import Config
from lifeboat.core.results import BackupOutcome
from lifeboat.core.schedule_times import needs_catch_up, resolve_timezone
from lifeboat.core.schedule_triggers import to_trigger
from lifeboat.foundation.errors import (
    AlreadyRunning,
    Cancelled,
    LifeboatError,
)
from lifeboat.foundation.events import NextRunChanged
from lifeboat.foundation.states import JobKind, Trigger
from lifeboat.scheduling.capture import CaptureHost
from lifeboat.scheduling.health import HealthWatch
from lifeboat.scheduling.metrics import write_metrics
from lifeboat.scheduling.pause import NOT_PAUSED, Pause, read_pause, save_pause
from lifeboat.scheduling.queue import (
    PRIORITY_LOW,
    PRIORITY_SCHEDULED,
    PRIORITY_USER,
    JobQueue,
    QueuedJob,
)
from lifeboat.scheduling.retries import PendingRetries
from lifeboat.service import Service
from lifeboat.service.notify import Webhook

log = logging.getLogger(__name__)

#: A wall-clock jump this much larger than the monotonic clock's means sleep or a clock
#: change: check for missed runs.
WAKE_JUMP = timedelta(seconds=90)


class Scheduler:
    def __init__(
        self,
        service: Service,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tick_seconds: float = 15.0,
    ) -> None:
        self.service = service
        self._wall = wall_clock
        self._mono = monotonic
        self._tick_seconds = tick_seconds
        config = service.config()
        self._config = config
        self._tz = resolve_timezone(config.general.timezone)
        self.queue = JobQueue(
            service,
            concurrency=config.general.concurrency,
            on_event=service.publish,
            on_finished=self._finished,
        )
        self._aps = BackgroundScheduler(
            timezone=self._tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        self.webhook = Webhook(config.general.notify_url)
        self.health = HealthWatch(service, self.webhook)
        self._fingerprint = service.settings_fingerprint()
        self._clock: tuple[float, float] = (wall_clock(), monotonic())
        self._lock = threading.RLock()
        self.retries = PendingRetries(
            service, self._aps, lock=self._lock, now=self._now, submit=self._submit
        )
        self.paused = False
        self.capture = CaptureHost(service, queue=self.queue)

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        self.service.sweep()
        self.service.tidy_sources()
        self.service.abort_abandoned_uploads()  # left open by killed runs: not billed
        self.queue.start()
        self.paused = read_pause(self.service.paths).active(self._now())
        self.capture.set_paused(self.paused)
        self.capture.start()  # continuous protection: every commit, while we run
        self._aps.start()
        self._schedule_sources(self._config)
        self._aps.add_job(
            self.tick, IntervalTrigger(seconds=self._tick_seconds, timezone=self._tz), id="tick"
        )
        self.health.load()
        self.catch_up("start")
        self.queue_uploads(Trigger.CATCH_UP)
        log.info(
            "scheduler started: %d source(s), time zone %s", len(self._config.sources), self._tz
        )

    def run(self, stop: threading.Event) -> None:
        """Start, block until `stop` is set, then shut down (daemon and tray thread)."""
        self.start()
        try:
            # Timed: a SIGTERM delivered to another thread only flags Python's handler,
            # which runs when this thread wakes (an untimed wait never did).
            while not stop.wait(0.5):
                pass
        finally:
            self.shutdown()

    def shutdown(self, timeout: float = 4.0) -> None:
        self.capture.stop()  # each follower writes what it took
        if self._aps.running:
            self._aps.shutdown(wait=False)
        self.retries.drop_all()
        self.queue.shutdown(timeout)
        self.webhook.flush(1.0)
        log.info("scheduler stopped")

    def pause(self, until: datetime | None = None) -> None:
        """Pause the schedules (until `until`, or until resumed); kept across restarts."""
        save_pause(self.service, Pause(True, until))
        self._apply_pause()

    def resume(self) -> None:
        save_pause(self.service, NOT_PAUSED)
        self._apply_pause()

    def _apply_pause(self) -> None:
        """Follow the pause file (written by this process, the tray, or another)."""
        paused = read_pause(self.service.paths).active(self._now())
        if paused == self.paused:
            return
        self.paused = paused
        self.capture.set_paused(paused)
        self._hold_schedules()
        log.info("schedules %s", "paused" if paused else "resumed")
        if not paused:
            self.catch_up("resume")

    def _hold_schedules(self) -> None:
        """Hold the backup and drill schedules while paused (the tick and a retry of a
        run that already happened go on)."""
        for job in self._aps.get_jobs():
            if job.id.startswith(("backup:", "drill:")):
                if self.paused:
                    job.pause()
                elif job.next_run_time is None:
                    job.resume()

    # -- what users ask for ----------------------------------------------------------

    def backup_now(self, source: str) -> QueuedJob:
        """Queue a backup now (forced: never skipped); AlreadyRunning if one is waiting."""
        self.service.source(source)
        return self._submit(
            JobKind.BACKUP, source, Trigger.MANUAL, force=True, priority=PRIORITY_USER
        )

    def drill_now(self, source: str) -> QueuedJob:
        """Queue a drill now (the tray's "Run a restore drill")."""
        self.service.source(source)
        return self._submit(JobKind.DRILL, source, Trigger.MANUAL, priority=PRIORITY_USER)

    def next_run(self, source: str) -> datetime | None:
        job = self._aps.get_job(f"backup:{source}")
        return job.next_run_time if job is not None else None

    def catch_up(self, why: str) -> list[str]:
        """Queue one backup for each source that missed its most recent scheduled time
        (none while paused: resuming catches up)."""
        if self.paused:
            return []
        now = self._now()
        queued = []
        for src in self.service.sources():
            last = self.service.last_good_snapshot(src.name)
            if not needs_catch_up(src.backup_schedule, self._tz, last, now):
                continue
            try:
                self._submit(
                    JobKind.BACKUP,
                    src.name,
                    Trigger.CATCH_UP,
                    force=True,
                    priority=PRIORITY_SCHEDULED,
                )
            except AlreadyRunning:
                continue
            queued.append(src.name)
            log.info(
                "%s: catching up (%s): last good snapshot %s",
                src.name,
                why,
                last.isoformat() if last else "never",
            )
        return queued

    def queue_uploads(self, why: Trigger) -> list[str]:
        """Queue an upload for each source whose remote is missing snapshots."""
        queued = []
        for src in self.service.sources():
            if src.remote is None or self.queue.is_busy(JobKind.UPLOAD, src.name):
                continue
            if not self.service.pending_uploads(src.name, self._now()):
                continue
            try:
                self._submit(JobKind.UPLOAD, src.name, why)
                queued.append(src.name)
            except AlreadyRunning:
                continue
        return queued

    # -- periodic work ---------------------------------------------------------------

    def tick(self) -> None:
        """Every few seconds: wake detection, config changes, alarms, metrics."""
        with self._lock:
            self.check_clock()
            self._reload_if_changed()
            self._apply_pause()
            self.health.check(self._now(), self._tz)
            self._write_metrics()

    def check_clock(self) -> bool:
        """True (and a catch-up) if the wall clock jumped ahead of the monotonic one."""
        wall, mono = self._wall(), self._mono()
        last_wall, last_mono = self._clock
        self._clock = (wall, mono)
        jump = timedelta(seconds=(wall - last_wall) - (mono - last_mono))
        if jump < WAKE_JUMP:
            return False
        log.info("the clock jumped %s ahead (sleep or clock change): checking missed runs", jump)
        self.catch_up("wake")
        return True

    # -- submitting ------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def _schedule_sources(self, config: Config) -> None:
        wanted = set()
        for src in config.sources.values():
            trigger = to_trigger(src.backup_schedule, self._tz)
            if trigger is not None:
                wanted.add(f"backup:{src.name}")
                self._aps.add_job(
                    self._scheduled,
                    trigger,
                    args=[src.name],
                    id=f"backup:{src.name}",
                    replace_existing=True,
                )
                self.service.publish(NextRunChanged(src.name, self.next_run(src.name)))
            drill = to_trigger(src.drill_schedule, self._tz)
            if drill is not None:
                wanted.add(f"drill:{src.name}")
                self._aps.add_job(
                    self._scheduled_drill,
                    drill,
                    args=[src.name],
                    id=f"drill:{src.name}",
                    replace_existing=True,
                )
        for job in self._aps.get_jobs():
            if job.id.startswith(("backup:", "drill:")) and job.id not in wanted:
                job.remove()
        self._hold_schedules()

    def _scheduled(self, source: str) -> None:
        try:
            self._submit(JobKind.BACKUP, source, Trigger.SCHEDULED, priority=PRIORITY_SCHEDULED)
        except AlreadyRunning as exc:
            log.info("%s: scheduled run not queued: %s", source, exc.message)
        self.service.publish(NextRunChanged(source, self.next_run(source)))

    def _scheduled_drill(self, source: str) -> None:
        """A restore drill: low priority, through the same queue as backups."""
        if not self.service.snapshots(source):
            log.info("%s: no snapshot to drill yet", source)
            return
        try:
            self._submit(JobKind.DRILL, source, Trigger.SCHEDULED, priority=PRIORITY_LOW)
        except AlreadyRunning as exc:
            log.info("%s: scheduled drill not queued: %s", source, exc.message)

    def _submit(
        self,
        kind: JobKind,
        source: str,
        trigger: Trigger,
        *,
        force: bool = False,
        priority: int = PRIORITY_SCHEDULED,
        attempt: int = 1,
        job_id: int | None = None,
    ) -> QueuedJob:
        reason = str(trigger) if trigger in (Trigger.MANUAL, Trigger.CATCH_UP) else "scheduled"

        def backup(job: QueuedJob) -> object:
            return self.service.run_backup(
                source,
                trigger=job.trigger,
                reason=reason,
                skip_if_covered=not force,
                job_id=job.job_id,
                attempt=job.attempt,
                cancel=job.cancel,
            )

        def upload(job: QueuedJob) -> object:
            return self.service.upload(
                source,
                trigger=job.trigger,
                job_id=job.job_id,
                attempt=job.attempt,
                cancel=job.cancel,
            )

        def drill(job: QueuedJob) -> object:
            return self.service.drill(
                source, trigger=job.trigger, job_id=job.job_id, cancel=job.cancel
            )

        work = {JobKind.BACKUP: backup, JobKind.UPLOAD: upload, JobKind.DRILL: drill}[kind]
        return self.queue.submit(
            kind, source, trigger, work, attempt=attempt, priority=priority, job_id=job_id
        )

    # -- after a job -----------------------------------------------------------------

    def _finished(self, job: QueuedJob, result: object, error: BaseException | None) -> None:
        source = job.source
        if source is None or job.trigger is Trigger.CONTINUOUS:  # its watch tries again
            return
        if job.kind is JobKind.UPLOAD:
            self._after_upload(job, source, error)
        elif job.kind is JobKind.BACKUP:
            if error is None:
                self.retries.cancel(source, JobKind.BACKUP)
                if isinstance(result, BackupOutcome) and result.upload_error is not None:
                    self.retries.plan(
                        JobKind.UPLOAD,
                        source,
                        Trigger.AFTER_BACKUP,  # the upload's own trigger, even after a retry
                        1,
                        result.upload_error.message,
                        result.upload_error,
                    )
                elif isinstance(result, BackupOutcome) and result.uploaded is not None:
                    self.retries.cancel(source, JobKind.UPLOAD)
            elif not isinstance(error, Cancelled):
                message = getattr(error, "message", str(error))
                self.retries.plan(JobKind.BACKUP, source, job.trigger, job.attempt, message, error)
            self.service.publish(NextRunChanged(source, self.next_run(source)))
        with self._lock:  # the problems it starts or ends are told now, not at the next tick
            self.health.check(self._now(), self._tz)
        self._write_metrics()

    def _after_upload(self, job: QueuedJob, source: str, error: BaseException | None) -> None:
        if error is None:
            self.retries.cancel(source, JobKind.UPLOAD)
        elif not isinstance(error, Cancelled):
            message = getattr(error, "message", str(error))
            self.retries.plan(JobKind.UPLOAD, source, job.trigger, job.attempt, message, error)

    # -- settings and metrics --------------------------------------------------------

    def _reload_if_changed(self) -> None:
        fingerprint = self.service.settings_fingerprint()
        if fingerprint == self._fingerprint:
            return
        try:
            config = self.service.config()
        except LifeboatError as exc:  # a broken file: keep running on the last good one
            log.error("settings not reloaded: %s", exc.message)
            return
        self._fingerprint = fingerprint
        self._config = config
        self.webhook.url = config.general.notify_url
        self._schedule_sources(config)
        self.capture.reload()
        log.info("settings changed: %d source(s) scheduled", len(config.sources))

    def _write_metrics(self) -> None:
        write_metrics(self.service, self._now(), self._tz)
