"""What the job records say of a source now: what runs, what waits to be retried, and
what finished last (for service/status.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog_records import JobRecord
from lifeboat.core.config_model import Config
from lifeboat.core.manifest import parse_iso_utc
from lifeboat.core.runs import job_alive


def last_finished(jobs: list[JobRecord], source: str, kind: str) -> JobRecord | None:
    """The newest finished (ok or failed) job of a kind (jobs are newest first)."""
    for job in jobs:
        if job.source == source and job.kind == kind and job.status in ("ok", "failed"):
            return job
    return None


def pending_retry(
    jobs: list[JobRecord], source: str, config: Config
) -> tuple[str | None, datetime | None]:
    """What the queued retry of `source` will try (the newest), and when: the failed
    attempt before it ended, plus the wait configured after that attempt."""
    queued = [
        j for j in jobs if j.source == source and j.status == "queued" and j.trigger == "retry"
    ]
    if not queued:
        return None, None
    retry = queued[0]
    failed = next(
        (
            j
            for j in jobs
            if j.source == source
            and j.kind == retry.kind
            and j.status == "failed"
            and j.finished_at
        ),
        None,
    )
    waits = config.general.retry_waits
    if failed is None or failed.finished_at is None or not 2 <= retry.attempt <= len(waits) + 1:
        return retry.kind, None
    return retry.kind, parse_iso_utc(failed.finished_at) + waits[retry.attempt - 2]


def running_and_retrying(
    run_dir: Path, jobs: list[JobRecord], source: str
) -> tuple[bool, bool, bool]:
    """Whether a job of `source` runs now, whether that is a backup, and whether a retry
    of it is queued (each by a run that still lives)."""
    alive = [
        j
        for j in jobs
        if j.source == source and j.status == "running" and job_alive(run_dir, j.run, j.pid)
    ]
    retry = any(
        j.status == "queued" and j.trigger == "retry" and job_alive(run_dir, j.run, j.pid)
        for j in jobs
        if j.source == source
    )
    return bool(alive), any(j.kind == "backup" for j in alive), retry
