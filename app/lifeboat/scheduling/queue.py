"""The job queue: one job at a time per source, a global concurrency limit, priorities.

Jobs are recorded (through the service) as `queued` when submitted, so `lifeboat jobs`
and `lifeboat status` in another process see them, and `lifeboat cancel` reaches queued
and running jobs alike.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lifeboat.foundation.errors import AlreadyRunning, LifeboatError
from lifeboat.foundation.events import EventSink, JobFinished, JobQueued, ignore_event
from lifeboat.foundation.progress import CancelToken
from lifeboat.foundation.states import JobKind, JobStatus, Trigger

log = logging.getLogger(__name__)

#: Lower runs first.
PRIORITY_USER = 0
PRIORITY_SCHEDULED = 5
PRIORITY_LOW = 9

#: Runs a job and records it in the catalog (see jobs.base.run_job); gets its QueuedJob.
Work = Callable[["QueuedJob"], object]


@dataclass(order=True)
class QueuedJob:
    priority: int
    seq: int
    job_id: int = field(compare=False)
    kind: JobKind = field(compare=False)
    source: str | None = field(compare=False)
    trigger: Trigger = field(compare=False)
    attempt: int = field(compare=False)
    work: Work = field(compare=False, repr=False)
    cancel: CancelToken = field(compare=False, default_factory=CancelToken)


Finished = Callable[[QueuedJob, object, BaseException | None], None]


class JobLedger(Protocol):
    """Where queued jobs are recorded (the Service)."""

    def record_queued_job(
        self, kind: JobKind, source: str | None, trigger: Trigger, attempt: int = 1
    ) -> int: ...

    def record_job_end(self, job_id: int, status: JobStatus, error: str | None = None) -> None: ...

    def cancel_requested(self, job_id: int) -> bool: ...


class JobQueue:
    def __init__(
        self,
        ledger: JobLedger,
        *,
        concurrency: int = 1,
        on_event: EventSink = ignore_event,
        on_finished: Finished | None = None,
    ) -> None:
        self._ledger = ledger
        self._concurrency = max(1, concurrency)
        self._on_event = on_event
        self._on_finished = on_finished
        self._cond = threading.Condition()
        self._heap: list[QueuedJob] = []
        self._running: dict[int, QueuedJob] = {}
        #: running jobs whose work has ended (its end recorded, seen by the status) while
        #: their end is still handled (retries, events): not "already running" for a new
        #: one of their kind, which still waits for their source to be free
        self._ended: set[int] = set()
        self._seq = itertools.count()
        self._workers: list[threading.Thread] = []
        self._stopping = False

    # -- submitting ------------------------------------------------------------------

    def submit(
        self,
        kind: JobKind,
        source: str | None,
        trigger: Trigger,
        work: Work,
        *,
        attempt: int = 1,
        priority: int = PRIORITY_SCHEDULED,
        job_id: int | None = None,
    ) -> QueuedJob:
        """Queue a job; AlreadyRunning if the same kind of job for the source is waiting
        or running."""
        with self._cond:
            if self._stopping:
                raise AlreadyRunning("Lifeboat is shutting down", "try again after it restarts")
            busy = self._find(kind, source)
            if busy is not None:
                state = "running" if busy.job_id in self._running else "queued"
                what = f"{kind} of {source}" if source else kind
                raise AlreadyRunning(
                    f"a {what} is already {state} (job {busy.job_id})", "wait for it to finish"
                )
            if job_id is None:
                job_id = self._ledger.record_queued_job(kind, source, trigger, attempt)
            job = QueuedJob(priority, next(self._seq), job_id, kind, source, trigger, attempt, work)
            heapq.heappush(self._heap, job)
            self._cond.notify_all()
        self._on_event(JobQueued(job_id, kind, source, trigger))
        return job

    def is_busy(self, kind: JobKind, source: str | None) -> bool:
        with self._cond:
            return self._find(kind, source) is not None

    def _find(self, kind: JobKind, source: str | None) -> QueuedJob | None:
        running = [job for job in self._running.values() if job.job_id not in self._ended]
        for job in [*running, *self._heap]:
            if job.kind == kind and job.source == source:
                return job
        return None

    # -- inspecting and cancelling ---------------------------------------------------

    def running(self) -> list[QueuedJob]:
        with self._cond:
            return list(self._running.values())

    def waiting(self) -> list[QueuedJob]:
        with self._cond:
            return sorted(self._heap)

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job of this process; False if it has none."""
        with self._cond:
            if job_id in self._running:
                self._running[job_id].cancel.cancel("cancelled on request")
                return True
            for job in self._heap:
                if job.job_id == job_id:
                    self._heap.remove(job)
                    heapq.heapify(self._heap)
                    break
            else:
                return False
        self._ledger.record_job_end(
            job_id, JobStatus.CANCELLED, error="cancelled before it started"
        )
        self._on_event(
            JobFinished(
                job_id,
                job.kind,
                job.source,
                JobStatus.CANCELLED,
                error="cancelled before it started",
            )
        )
        return True

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        for n in range(self._concurrency):
            worker = threading.Thread(target=self._work, name=f"lifeboat-worker-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop: queued jobs are recorded as cancelled, running ones are cancelled."""
        with self._cond:
            self._stopping = True
            waiting, self._heap = self._heap, []
            for job in self._running.values():
                job.cancel.cancel("stopped: Lifeboat is shutting down")
            self._cond.notify_all()
        for job in waiting:
            self._ledger.record_job_end(
                job.job_id, JobStatus.CANCELLED, error="not started: Lifeboat was shutting down"
            )
        for worker in self._workers:
            worker.join(timeout)

    def _next(self) -> QueuedJob | None:
        """The best waiting job whose source is free (call with the lock held)."""
        busy = {job.source for job in self._running.values() if job.source is not None}
        for job in sorted(self._heap):
            if job.source is None or job.source not in busy:
                self._heap.remove(job)
                heapq.heapify(self._heap)
                return job
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                while job is None and not self._stopping:
                    self._cond.wait()
                    job = self._next()
                if job is None:
                    return
                self._running[job.job_id] = job
            try:
                self._run(job)
            finally:
                with self._cond:
                    del self._running[job.job_id]
                    self._ended.discard(job.job_id)
                    self._cond.notify_all()

    def _run(self, job: QueuedJob) -> None:
        try:
            if self._ledger.cancel_requested(job.job_id):
                job.cancel.cancel("cancelled on request")
        except LifeboatError:
            pass
        if job.cancel.cancelled:
            self._ledger.record_job_end(
                job.job_id, JobStatus.CANCELLED, error="cancelled before it started"
            )
            self._on_event(
                JobFinished(
                    job.job_id,
                    job.kind,
                    job.source,
                    JobStatus.CANCELLED,
                    error="cancelled before it started",
                )
            )
            return

        result: object = None
        error: BaseException | None = None
        try:
            result = job.work(job)
        except LifeboatError as exc:
            error = exc
            log.info("job %s (%s %s) failed: %s", job.job_id, job.kind, job.source, exc.message)
        except Exception as exc:  # recorded by run_job with its traceback in the log
            error = exc
        with self._cond:
            self._ended.add(job.job_id)
        if self._on_finished is not None:
            try:
                self._on_finished(job, result, error)
            except Exception:
                log.exception("handling the end of job %s failed", job.job_id)
