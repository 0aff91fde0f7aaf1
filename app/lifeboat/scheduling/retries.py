"""Retries: a backup or upload that failed is tried again after the configured waits
(`retry_waits`), one retry at a time per kind of job and source.

Each planned retry is a queued job in the catalog (so `lifeboat jobs` shows it) and a
one-off APScheduler job that submits it when its time comes. A good run makes a pending
retry pointless; a stop records the pending ones as not retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger

from lifeboat.foundation.errors import AlreadyRunning, ConfigError, NotFound
from lifeboat.foundation.events import RetryScheduled
from lifeboat.foundation.states import JobKind, JobStatus, Trigger
from lifeboat.scheduling.queue import QueuedJob
from lifeboat.service import Service

log = logging.getLogger(__name__)


class Submit(Protocol):
    """How a retry is queued: the scheduler's own submit (scheduler.py)."""

    def __call__(
        self, kind: JobKind, source: str, trigger: Trigger, *, attempt: int, job_id: int
    ) -> QueuedJob: ...


class PendingRetries:
    """The retries planned and not yet run, one per kind and source ("kind:source")."""

    def __init__(
        self,
        service: Service,
        aps: BaseScheduler,
        *,
        lock: threading.RLock,
        now: Callable[[], datetime],
        submit: Submit,
    ) -> None:
        self.service = service
        self._aps = aps
        self._lock = lock  # the scheduler's: its tick and the retries take turns
        self._now = now
        self._submit = submit
        self._retries: dict[str, int] = {}  # "kind:source" -> pending retry job id

    def plan(
        self,
        kind: JobKind,
        source: str,
        trigger: Trigger,
        attempt: int,
        message: str,
        error: BaseException,
    ) -> None:
        with self._lock:
            if isinstance(error, NotFound | ConfigError):
                return
            slot = f"{kind}:{source}"
            if trigger is not Trigger.RETRY and slot in self._retries:
                return  # a retry is already on its way; it continues the count
            delays = self.service.config().general.retry_waits
            if attempt > len(delays):
                log.warning(
                    "%s: %s failed %d time(s); next try at its next scheduled time",
                    source,
                    kind,
                    attempt,
                )
                return
            at = self._now() + delays[attempt - 1]
            retry_id = self.service.record_queued_job(kind, source, Trigger.RETRY, attempt + 1)
            self._retries[slot] = retry_id
            self._aps.add_job(
                self._retry,
                DateTrigger(run_date=at),
                args=[kind, source, attempt, retry_id],
                id=f"retry:{retry_id}",
                misfire_grace_time=None,
            )
        self.service.publish(RetryScheduled(source, kind, attempt + 1, at, message))
        log.info("%s: %s attempt %d at %s", source, kind, attempt + 1, at)

    def cancel(self, source: str, kind: JobKind) -> None:
        """A good run makes a pending retry pointless."""
        with self._lock:
            retry_id = self._retries.pop(f"{kind}:{source}", None)
        if retry_id is None:
            return
        job = self._aps.get_job(f"retry:{retry_id}")
        if job is not None:
            job.remove()
        self.service.record_job_end(
            retry_id, JobStatus.SKIPPED, error="not needed: a later run succeeded"
        )

    def drop_all(self) -> None:
        """Lifeboat stops: every pending retry is recorded as not retried."""
        for retry_id in self._retries.values():
            self.service.record_job_end(
                retry_id, JobStatus.CANCELLED, error="not retried: Lifeboat was stopped"
            )
        self._retries.clear()

    def _retry(self, kind: JobKind, source: str, attempt: int, retry_id: int) -> None:
        with self._lock:
            self._retries.pop(f"{kind}:{source}", None)
        try:
            self._submit(kind, source, Trigger.RETRY, attempt=attempt + 1, job_id=retry_id)
        except AlreadyRunning as exc:
            self.service.record_job_end(retry_id, JobStatus.SKIPPED, error=exc.message)
