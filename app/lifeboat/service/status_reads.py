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
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import JobRecord, SourceSnapshots
from lifeboat.core.catalog_watch import CatalogWatch, Mark
from lifeboat.service.status_snapshots import CONTINUOUS_REASON

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace

#: How many of the newest jobs the status looks through (all sources together).
JOBS_READ = 2000
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
        jobs,
        workspace.catalog.source_snapshots(CONTINUOUS_REASON),
        workspace.catalog.last_events(CONTINUOUS_EVENTS),
    )


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
