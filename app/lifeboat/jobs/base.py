"""The job protocol and the one function that runs a job and records it.

A job validates cheaply in `prepare()` (refusing early with a LifeboatError) and does the
slow part in `run(progress, cancel)`. `run_job` records every run in the catalog's job
history and emits events; the queue and scheduler only know this interface.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from lifeboat.core.catalog import Catalog
from lifeboat.core.unchanged import UNCHANGED_KEY
from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.events import EventSink, JobFinished, JobProgress, JobStarted, ignore_event
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import JobKind, JobStatus, Trigger

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class JobOutcome(Generic[T]):
    """What a job's run came to; `result` is what the job made (its type is the job's)."""

    result: T
    snapshot_id: str | None = None
    detail: dict[str, object] | None = None
    status: JobStatus = JobStatus.OK  # OK | SKIPPED | FAILED (ran, found a problem)
    message: str = ""


class Job(Protocol[T]):
    @property
    def kind(self) -> JobKind: ...

    @property
    def source(self) -> str | None: ...

    def prepare(self) -> None: ...

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[T]: ...


def run_job(
    job: Job[T],
    catalog: Catalog,
    *,
    trigger: Trigger = Trigger.MANUAL,
    attempt: int = 1,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    on_event: EventSink = ignore_event,
    job_id: int | None = None,
) -> JobOutcome[T]:
    """Prepare and run `job`, recording it; re-raise its error after recording it."""
    cancel = cancel or CancelToken()
    if job_id is None:
        job_id = catalog.start_job(job.kind, job.source, trigger, attempt)
    else:
        catalog.mark_job_running(job_id)
    on_event(JobStarted(job_id, job.kind, job.source))
    watcher = _CancelWatcher(catalog, job_id, cancel)
    watcher.start()

    def report(phase: str, done: int, total: int) -> None:
        progress(phase, done, total)
        on_event(JobProgress(job_id, job.source, phase, done, total))

    try:
        job.prepare()
        cancel.check()
        outcome = job.run(report, cancel)
    except Cancelled as exc:
        _finish(catalog, on_event, job, job_id, JobStatus.CANCELLED, error=exc.message)
        raise
    except LifeboatError as exc:
        _finish(catalog, on_event, job, job_id, JobStatus.FAILED, error=exc.message)
        raise
    except BaseException as exc:
        log.exception("job %s (%s %s) failed unexpectedly", job_id, job.kind, job.source)
        _finish(
            catalog,
            on_event,
            job,
            job_id,
            JobStatus.FAILED,
            error=f"unexpected error: {type(exc).__name__}: {exc}",
        )
        raise
    finally:
        watcher.stop()
    _finish(
        catalog,
        on_event,
        job,
        job_id,
        outcome.status,
        snapshot_id=outcome.snapshot_id,
        detail=outcome.detail,
        error=outcome.message or None,
    )
    return outcome


def _finish(
    catalog: Catalog,
    on_event: EventSink,
    job: Job[T],
    job_id: int,
    status: JobStatus,
    *,
    error: str | None = None,
    snapshot_id: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    try:
        catalog.finish_job(job_id, status, error=error, snapshot_id=snapshot_id, detail=detail)
    except LifeboatError:
        log.exception("could not record the end of job %s", job_id)
    same = (detail or {}).get(UNCHANGED_KEY)
    on_event(
        JobFinished(
            job_id,
            job.kind,
            job.source,
            status,
            snapshot_id,
            error,
            unchanged_since=same if isinstance(same, str) else None,
        )
    )


class _CancelWatcher:
    """Turns a cancel request recorded in the catalog (by another process) into a cancel."""

    def __init__(
        self, catalog: Catalog, job_id: int, cancel: CancelToken, interval: float = 1.0
    ) -> None:
        self._catalog = catalog
        self._job_id = job_id
        self._cancel = cancel
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"cancel-watch-{job_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self._catalog.job(self._job_id).cancel_requested:
                    self._cancel.cancel("cancelled on request")
                    return
            except LifeboatError:
                continue
