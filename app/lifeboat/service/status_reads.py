"""What the status reads of the catalog, read again only when the catalog changed.

The tray's health check reads the status every 15 s and its window once a minute; with
10,000 snapshots the catalog's part of that (every source's counts, newest snapshots,
jobs and events) was most of an idle tray's work, and it grew with the catalog. These
reads are kept, with the catalog's change mark (core/catalog_watch.py), and taken again
only when something was committed since. Everything that changes with time alone is
still worked out at each status from what was read (service/status.py): whether a
backup is overdue, the next run, a remote left behind for a day, whether a job's
process still lives, the history files on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import JobRecord, SourceSnapshots
from lifeboat.core.catalog_watch import CatalogWatch, Mark
from lifeboat.core.manifest import parse_iso_utc
from lifeboat.core.unchanged import unchanged_since_id
from lifeboat.foundation.states import JobStatus
from lifeboat.service.status_snapshots import CONTINUOUS_REASON

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace

#: How many of the newest jobs the status looks through (all sources together).
JOBS_READ = 2000
#: The jobs a status may count or follow whatever their age (see jobs_a_status_asks_about).
ALWAYS_KEPT = frozenset({JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED})
#: The events the status looks at (the capture's stops, history not compacted).
CONTINUOUS_EVENTS = "continuous:"


@dataclass(frozen=True)
class StatusReads:
    #: Each source's jobs, newest first: what status asks of the jobs is all per
    #: source, and looking through all 2,000 for each of 100 sources was a third of it.
    jobs: dict[str | None, list[JobRecord]]
    facts: dict[str, SourceSnapshots]
    events: dict[str, tuple[str, str]]


def read_for_status(workspace: Workspace) -> StatusReads:
    """The catalog's part of a status, read now."""
    jobs: dict[str | None, list[JobRecord]] = {}
    for job in workspace.catalog.jobs(limit=JOBS_READ):
        jobs.setdefault(job.source, []).append(job)
    return StatusReads(
        {source: jobs_a_status_asks_about(found) for source, found in jobs.items()},
        workspace.catalog.source_snapshots(CONTINUOUS_REASON),
        workspace.catalog.last_events(CONTINUOUS_EVENTS),
    )


def jobs_a_status_asks_about(jobs: list[JobRecord]) -> list[JobRecord]:
    """Of one source's jobs (newest first), the ones whose answers a status can need, in
    the same order: every one running, queued or failed (what runs, the retries and the
    attempts they retry, the failures counted), the newest of each kind, status and
    finished or not (the last backup, upload and drill), the latest that proved the
    database unchanged and the oldest (since when the source is known). Kept between
    status reads (StatusReadsKept) they are all the tray holds of the jobs: the other
    finished ones of 2,000 (with 10,000 snapshots, ~1 MB) answered nothing."""
    unchanged = [job for job in jobs if unchanged_since_id(job) is not None]
    latest_unchanged = max(unchanged, key=_proven_at, default=None)
    with_time = [job for job in jobs if job.queued_at]
    oldest = min(with_time, key=lambda job: parse_iso_utc(job.queued_at), default=None)
    kept: list[JobRecord] = []
    seen: set[tuple[str, str, bool]] = set()
    for job in jobs:
        newest_of_its_kind = (job.kind, job.status, bool(job.finished_at)) not in seen
        seen.add((job.kind, job.status, bool(job.finished_at)))
        if (
            newest_of_its_kind
            or job.status in ALWAYS_KEPT
            or job is latest_unchanged
            or job is oldest
        ):
            kept.append(job)
    return kept


def _proven_at(job: JobRecord) -> datetime:
    return parse_iso_utc(job.started_at or job.queued_at)


class StatusReadsKept:
    """The last reads with the catalog's mark taken before them: given again while the
    mark stays the same. A commit after the mark was taken moves the next mark, so a
    read that may have missed it is never given twice. Safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watch: CatalogWatch | None = None
        self._kept: tuple[Mark, StatusReads] | None = None
        self.reads_taken = 0  # how many times the catalog was read (for the tests)

    def reads(self, workspace: Workspace) -> StatusReads:
        with self._lock:
            path = workspace.paths.catalog_file
            if self._watch is None or self._watch.path != path:
                self._watch, self._kept = CatalogWatch(path), None
            mark = self._watch.mark()
            if mark is not None and self._kept is not None and self._kept[0] == mark:
                return self._kept[1]
        reads = read_for_status(workspace)  # outside the lock: a slow read blocks no one
        with self._lock:
            self.reads_taken += 1
            self._kept = (mark, reads) if mark is not None else None
        return reads

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
            self._watch, self._kept = None, None
