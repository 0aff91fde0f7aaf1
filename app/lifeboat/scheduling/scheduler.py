"""The scheduler: APScheduler triggers feed the job queue; catch-up, retries, alarms.

Runs the same in the headless daemon (`lifeboat run`, in the foreground) and in the tray
(hosted in a QThread). It never imports Qt: it reports through plain event callbacks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lifeboat.core.config import Config
from lifeboat.core.retention import parse_keep
from lifeboat.core.schedule import parse_duration, parse_schedule
from lifeboat.core.schedule_times import needs_catch_up, resolve_timezone, to_trigger
from lifeboat.foundation.errors import (
    AlreadyRunning,
    Cancelled,
    ConfigError,
    LifeboatError,
    NotFound,
)
from lifeboat.foundation.events import (
    Event,
    EventSink,
    NextRunChanged,
    RetryScheduled,
    SourceHealth,
    ignore_event,
)
from lifeboat.jobs.backup import last_good_snapshot
from lifeboat.remote.open_uploads import abort_ended_uploads_soon
from lifeboat.remote.plans import plan_uploads
from lifeboat.scheduling.metrics import SourceMetrics, write_metrics
from lifeboat.scheduling.queue import (
    PRIORITY_LOW,
    PRIORITY_SCHEDULED,
    PRIORITY_USER,
    JobQueue,
    QueuedJob,
)
from lifeboat.service.facade import Service
from lifeboat.service.notify import Webhook
from lifeboat.service.status import compute_status

log = logging.getLogger(__name__)

#: A wall-clock jump this much larger than the monotonic clock's means sleep or a clock
#: change: check for missed runs.
WAKE_JUMP = timedelta(seconds=90)


class Scheduler:
    def __init__(
        self,
        service: Service,
        *,
        on_event: EventSink = ignore_event,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tick_seconds: float = 15.0,
    ) -> None:
        self.service = service
        self.workspace = service.workspace
        self._on_event = on_event
        service.on_event = self._emit
        self._wall = wall_clock
        self._mono = monotonic
        self._tick_seconds = tick_seconds
        config = self.workspace.config()
        self._config = config
        self._tz = resolve_timezone(config.general.timezone)
        self.queue = JobQueue(
            self.workspace.catalog,
            concurrency=config.general.concurrency,
            on_event=self._emit,
            on_finished=self._finished,
        )
        self._aps = BackgroundScheduler(
            timezone=self._tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        self.webhook = Webhook(config.general.notify_url)
        self._fingerprint: tuple[int, int] | None = self._config_fingerprint()
        self._problems: dict[str, str] = {}  # source -> failed | stale
        self._retries: dict[str, int] = {}  # "kind:source" -> pending retry job id
        self._clock: tuple[float, float] = (wall_clock(), monotonic())
        self._lock = threading.RLock()
        self.paused = False

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        self.service.sweep()
        self.service.tidy_sources()
        abort_ended_uploads_soon(self.workspace)  # left open by killed runs: not billed
        self.queue.start()
        self._aps.start()
        self._schedule_sources(self._config)
        self._aps.add_job(
            self.tick, IntervalTrigger(seconds=self._tick_seconds, timezone=self._tz), id="tick"
        )
        self._problems = self._current_problems()
        self.catch_up("start")
        self.queue_uploads("catch-up")
        log.info(
            "scheduler started: %d source(s), time zone %s", len(self._config.sources), self._tz
        )

    def run(self, stop: threading.Event) -> None:
        """Start, block until `stop` is set, then shut down (daemon and tray thread)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.shutdown()

    def shutdown(self, timeout: float = 4.0) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
        for retry_id in self._retries.values():
            self.workspace.catalog.finish_job(
                retry_id, "cancelled", error="not retried: Lifeboat was stopped"
            )
        self._retries.clear()
        self.queue.shutdown(timeout)
        self.webhook.flush(1.0)
        log.info("scheduler stopped")

    def pause(self) -> None:
        self._aps.pause()
        self.paused = True

    def resume(self) -> None:
        self._aps.resume()
        self.paused = False
        self.catch_up("resume")

    # -- what users ask for ----------------------------------------------------------

    def backup_now(self, source: str) -> QueuedJob:
        """Queue a backup now (forced: never skipped); AlreadyRunning if one is waiting."""
        self.workspace.config().source(source)
        return self._submit_backup(source, "manual", force=True, priority=PRIORITY_USER)

    def next_run(self, source: str) -> datetime | None:
        job = self._aps.get_job(f"backup:{source}")
        return job.next_run_time if job is not None else None

    def catch_up(self, why: str) -> list[str]:
        """Queue one backup for each source that missed its most recent scheduled time."""
        now = self._now()
        queued = []
        for src in self.workspace.config().sources.values():
            schedule = parse_schedule(src.schedule)
            last = last_good_snapshot(self.workspace, src.name)
            if not needs_catch_up(schedule, self._tz, last, now):
                continue
            try:
                self._submit_backup(src.name, "catch-up", force=True, priority=PRIORITY_SCHEDULED)
                queued.append(src.name)
                log.info(
                    "%s: catching up (%s): last good snapshot %s",
                    src.name,
                    why,
                    last.isoformat() if last else "never",
                )
            except AlreadyRunning:
                continue
        return queued

    # -- periodic work ---------------------------------------------------------------

    def tick(self) -> None:
        """Every few seconds: wake detection, config changes, alarms, metrics."""
        with self._lock:
            self.check_clock()
            self._reload_if_changed()
            self._check_health()
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

    # -- internals -------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def _emit(self, event: Event) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("an event listener failed on %r", event)

    def _schedule_sources(self, config: Config) -> None:
        wanted = set()
        for src in config.sources.values():
            trigger = to_trigger(parse_schedule(src.schedule), self._tz)
            job_id = f"backup:{src.name}"
            if trigger is not None:
                wanted.add(job_id)
                self._aps.add_job(
                    self._scheduled, trigger, args=[src.name], id=job_id, replace_existing=True
                )
                self._emit(NextRunChanged(src.name, self.next_run(src.name)))
            drill = to_trigger(parse_schedule(src.drill), self._tz)
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

    def _scheduled_drill(self, source: str) -> None:
        """A restore drill: low priority, through the same queue as backups."""
        if not self.workspace.catalog.snapshots(source):
            log.info("%s: no snapshot to drill yet", source)
            return
        try:
            self._submit("drill", source, "scheduled", priority=PRIORITY_LOW)
        except AlreadyRunning as exc:
            log.info("%s: scheduled drill not queued: %s", source, exc.message)

    def drill_now(self, source: str) -> QueuedJob:
        """Queue a drill now (the tray's "Run a restore drill")."""
        self.workspace.config().source(source)
        return self._submit("drill", source, "manual", priority=PRIORITY_USER)

    def _scheduled(self, source: str) -> None:
        try:
            self._submit_backup(source, "scheduled", force=False, priority=PRIORITY_SCHEDULED)
        except AlreadyRunning as exc:
            log.info("%s: scheduled run not queued: %s", source, exc.message)
        self._emit(NextRunChanged(source, self.next_run(source)))

    def _submit_backup(
        self,
        source: str,
        trigger: str,
        *,
        force: bool,
        priority: int,
        attempt: int = 1,
        job_id: int | None = None,
    ) -> QueuedJob:
        return self._submit(
            "backup",
            source,
            trigger,
            force=force,
            priority=priority,
            attempt=attempt,
            job_id=job_id,
        )

    def _submit(
        self,
        kind: str,
        source: str,
        trigger: str,
        *,
        force: bool = False,
        priority: int = PRIORITY_SCHEDULED,
        attempt: int = 1,
        job_id: int | None = None,
    ) -> QueuedJob:
        reason = trigger if trigger in ("manual", "catch-up") else "scheduled"

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

        work = {"backup": backup, "upload": upload, "drill": drill}[kind]
        return self.queue.submit(
            kind, source, trigger, work, attempt=attempt, priority=priority, job_id=job_id
        )

    def queue_uploads(self, why: str) -> list[str]:
        """Queue an upload for each source whose remote is missing snapshots."""
        queued = []
        config = self.workspace.config()
        for src in config.sources.values():
            if src.remote is None or src.remote not in config.remotes:
                continue
            pending = plan_uploads(
                self.workspace.catalog.snapshots(src.name),
                src.remote,
                parse_keep(src.remote_keep or src.keep),
                self._now(),
            )
            if not pending or self.queue.is_busy("upload", src.name):
                continue
            try:
                self._submit("upload", src.name, why)
                queued.append(src.name)
            except AlreadyRunning:
                continue
        return queued

    def _finished(self, job: QueuedJob, result: object, error: BaseException | None) -> None:
        source = job.source
        if source is not None and job.kind == "upload":
            if error is None:
                self._cancel_retry(source, "upload")
                if self._problems.get(source) == "remote-unreachable":
                    self._set_problem(source, None, "uploads caught up")
            elif not isinstance(error, Cancelled):
                self._maybe_retry(job, getattr(error, "message", str(error)), error)
        if (
            source is not None
            and job.kind == "drill"
            and error is None
            and not getattr(result, "passed", True)
        ):
            self._emit(SourceHealth(source, "drill-failed", str(getattr(result, "error", ""))))
        if source is not None and job.kind == "backup":
            if error is None:
                self._cancel_retry(source, "backup")
                if self._problems.get(source) in ("failed", "stale"):
                    # not a remote that is still behind: that ends when uploads catch up
                    self._set_problem(source, None, "backed up again")
                if getattr(result, "status", "ok") == "ok" and self._has_remote(source):
                    with contextlib.suppress(AlreadyRunning):
                        self._submit("upload", source, "after-backup")
            elif not isinstance(error, Cancelled):
                message = getattr(error, "message", str(error))
                self._set_problem(source, "failed", message)
                self._maybe_retry(job, message, error)
            self._emit(NextRunChanged(source, self.next_run(source)))
        self._write_metrics()

    def _maybe_retry(self, job: QueuedJob, message: str, error: BaseException) -> None:
        with self._lock:
            self._plan_retry(job, message, error)

    def _plan_retry(self, job: QueuedJob, message: str, error: BaseException) -> None:
        if isinstance(error, NotFound | ConfigError):
            return
        slot = f"{job.kind}:{job.source}"
        if job.trigger != "retry" and slot in self._retries:
            return  # a retry is already on its way; it continues the count
        delays = self._retry_delays()
        if job.attempt > len(delays):
            log.warning(
                "%s: %s failed %d time(s); next try at its next scheduled time",
                job.source,
                job.kind,
                job.attempt,
            )
            return
        at = self._now() + delays[job.attempt - 1]
        retry_id = self.workspace.catalog.start_job(
            job.kind, job.source, "retry", job.attempt + 1, status="queued"
        )
        self._retries[slot] = retry_id
        self._aps.add_job(
            self._retry,
            DateTrigger(run_date=at),
            args=[job, retry_id],
            id=f"retry:{retry_id}",
            misfire_grace_time=None,
        )
        self._emit(RetryScheduled(job.source, job.kind, job.attempt + 1, at, message))
        log.info("%s: %s attempt %d at %s", job.source, job.kind, job.attempt + 1, at)

    def _retry(self, failed: QueuedJob, retry_id: int) -> None:
        with self._lock:
            self._retries.pop(f"{failed.kind}:{failed.source}", None)
        try:
            self._submit(
                failed.kind,
                str(failed.source),
                "retry",
                force=False,
                attempt=failed.attempt + 1,
                job_id=retry_id,
            )
        except AlreadyRunning as exc:
            self.workspace.catalog.finish_job(retry_id, "skipped", error=exc.message)

    def _has_remote(self, source: str) -> bool:
        src = self.workspace.config().sources.get(source)
        return src is not None and src.remote is not None

    def _cancel_retry(self, source: str, kind: str) -> None:
        """A good run makes a pending retry pointless."""
        with self._lock:
            retry_id = self._retries.pop(f"{kind}:{source}", None)
        if retry_id is None:
            return
        job = self._aps.get_job(f"retry:{retry_id}")
        if job is not None:
            job.remove()
        self.workspace.catalog.finish_job(
            retry_id, "skipped", error="not needed: a later run succeeded"
        )

    def _retry_delays(self) -> list[timedelta]:
        text = self.workspace.config().general.retry_delays
        return [parse_duration(part) for part in text.split(",") if part.strip()]

    def _config_fingerprint(self) -> tuple[int, int] | None:
        try:
            stat = self.workspace.paths.config_file.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _reload_if_changed(self) -> None:
        fingerprint = self._config_fingerprint()
        if fingerprint == self._fingerprint:
            return
        try:
            config = self.workspace.config()
        except LifeboatError as exc:
            log.error("settings not reloaded: %s", exc.message)
            return
        self._fingerprint = fingerprint
        self._config = config
        self.webhook.url = config.general.notify_url
        self._schedule_sources(config)
        log.info("settings changed: %d source(s) scheduled", len(config.sources))

    def _current_problems(self) -> dict[str, str]:
        """The health each source was last reported in (kept in the catalog, so a restart
        neither repeats a notice nor forgets one)."""
        problems = {}
        for name in self.workspace.config().sources:
            kind = self.workspace.catalog.last_event_kind(name, "health:")
            if kind in ("health:failed", "health:stale", "health:remote-unreachable"):
                problems[name] = kind.removeprefix("health:")
        return problems

    def _check_health(self) -> None:
        status = compute_status(self.workspace, self._now(), self._tz)
        for source in status.sources:
            if self._problems.get(source.name) is not None:
                continue
            if source.stale:
                age = (
                    "never backed up"
                    if source.last_snapshot is None
                    else f"newest good snapshot {source.last_snapshot.isoformat()}"
                )
                self._set_problem(source.name, "stale", f"{source.name} is stale: {age}")
            elif source.remote_behind:
                self._set_problem(
                    source.name,
                    "remote-unreachable",
                    f"{source.name}: {source.uploads_pending} snapshot(s) have "
                    f"waited more than a day for remote {source.remote}",
                )

    def _set_problem(self, source: str, problem: str | None, message: str) -> None:
        before = self._problems.get(source)
        if problem == before:
            return
        state = problem or "recovered"
        if problem is None:
            self._problems.pop(source, None)
            message = f"{source}: {message}"
        else:
            self._problems[source] = problem
        self.workspace.catalog.add_event(
            "info" if problem is None else "warning", message, source, kind=f"health:{state}"
        )
        self.webhook.send(state, source, message)
        self._emit(SourceHealth(source, state, message))

    def _write_metrics(self) -> None:
        path = self.workspace.config().general.metrics_file
        if path is None:
            return
        status = compute_status(self.workspace, self._now(), self._tz)
        try:
            write_metrics(
                path,
                [
                    SourceMetrics(
                        source=s.name,
                        last_success=s.last_snapshot.timestamp() if s.last_snapshot else None,
                        last_duration=s.last_duration,
                        snapshot_bytes=s.snapshot_bytes,
                        failures_total=s.failures_total,
                        snapshots=s.snapshots,
                        stale=s.stale,
                    )
                    for s in status.sources
                ],
                self.workspace.run,
            )
        except OSError as exc:
            log.warning("cannot write metrics to %s: %s", path, exc.strerror or exc)
