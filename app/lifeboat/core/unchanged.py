"""A backup that found its database unchanged: what its job records, what it says, and
when a source was last proven unchanged (pure functions of plain records, no I/O).

A scheduled or manual backup of a database that holds exactly what its newest snapshot
holds stores nothing (core/snapshot.py `Unchanged`). Its job ends "ok" with the words
`unchanged_message` makes and the detail {"unchanged_since": <that snapshot's id>}: the
time it was proven unchanged counts as a backup for the schedule and the overdue alarm.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, tzinfo

from lifeboat.core.catalog_records import JobRecord
from lifeboat.core.manifest import parse_iso_utc

#: The key of a backup job's detail naming the snapshot its database was unchanged since.
UNCHANGED_KEY = "unchanged_since"
_PREFIX = "unchanged since the snapshot of "
_SUFFIX = "; nothing new stored"


def unchanged_message(snapshot_time: datetime, tz: tzinfo) -> str:
    """'unchanged since the snapshot of 2026-03-04 12:54; nothing new stored' (local time)."""
    return f"{_PREFIX}{snapshot_time.astimezone(tz):%Y-%m-%d %H:%M}{_SUFFIX}"


def unchanged_since_time(message: str | None) -> str | None:
    """The snapshot's time as `unchanged_message` wrote it ('2026-03-04 12:54'), or None
    when `message` is not such a message."""
    if not message or not message.startswith(_PREFIX):
        return None
    return message[len(_PREFIX) :].split(";", 1)[0].strip() or None


def unchanged_since_id(job: JobRecord) -> str | None:
    """The snapshot an ok backup job found its database unchanged since (None: the job
    stored a snapshot, or is no such job)."""
    if job.kind != "backup" or job.status != "ok" or not job.detail:
        return None
    try:
        detail = json.loads(job.detail)
    except ValueError:
        return None
    found = detail.get(UNCHANGED_KEY) if isinstance(detail, dict) else None
    return found if isinstance(found, str) else None


def proven_unchanged_at(jobs: Iterable[JobRecord], source: str) -> datetime | None:
    """When a backup of `source` last found it unchanged (its job's start: the copy it
    compared was taken after that), or None. `jobs` may hold any sources' jobs."""
    times = [
        parse_iso_utc(job.started_at or job.queued_at)
        for job in jobs
        if job.source == source and unchanged_since_id(job) is not None
    ]
    return max(times) if times else None


def latest(*moments: datetime | None) -> datetime | None:
    """The latest of the times given (None when none is)."""
    known = [m for m in moments if m is not None]
    return max(known) if known else None
