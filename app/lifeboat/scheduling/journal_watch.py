"""Continuous protection of rollback-journal databases: a differential when it changed.

A database that is not in WAL mode has no log of commits to follow, so the closest
equivalent is a backup soon after each change. The capture host (capture.py) asks
`JournalWatches.is_journal` at each poll; at most every second (`CHECK_EVERY`) it reads
the file's header with a plain read (core/change_mark.py: no lock, no connection) and,
when the file change counter, size or mtime moved and at least the source's
`continuous_every` passed since the last one began, queues a backup through the
scheduler's job queue: the one backup pipeline (reason and trigger "continuous"; the
rebase rules decide full or differential; today's stepped copy, so no lock is held
longer than a scheduled backup holds it). The queue refuses a second backup of a source
while one waits or runs, so there are never two at once, and the capture thread never
waits for one. The first check after a start queues one too: changes made while Lifeboat
was not running are captured (the pipeline stores nothing when nothing changed). While
backups are paused the host does not ask (capture.py), so a change waits for the resume.

The header also says the journal mode: a database switched to WAL goes to the WAL
follower at the next check (the follower's start catches up from the live file), and
one switched out of WAL comes back here (its follower is closed first: the follower's
catch-ups would read the whole file under a read transaction, which blocks a
rollback-journal writer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.change_mark import ChangeMark, ChangeWatch, MarkReader
from lifeboat.foundation.errors import AlreadyRunning, LifeboatError
from lifeboat.foundation.states import JobKind, Trigger
from lifeboat.scheduling.queue import PRIORITY_SCHEDULED, JobQueue, QueuedJob
from lifeboat.service import Service

log = logging.getLogger(__name__)

#: How often a database's header is read (the issue: at most every second).
CHECK_EVERY = 1.0
#: continuous_every when the settings do not say (config_model.DEFAULT_EVERY).
FALLBACK_EVERY = 60.0


@dataclass
class _Watched:
    reader: MarkReader
    watch: ChangeWatch
    mark: ChangeMark | None = None  # as read last
    checked: float | None = None  # when (monotonic)
    checks: int = 0  # how many times it was read


class JournalWatches:
    def __init__(
        self,
        service: Service,
        queue: JobQueue,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.queue = queue
        self._mono = monotonic
        self._watched: dict[str, _Watched] = {}
        self._every: dict[str, float] = {}

    def set_every(self, every: dict[str, float]) -> None:
        """Each source's `continuous_every` in seconds (read again when settings change)."""
        self._every = dict(every)
        for name, watched in self._watched.items():
            watched.watch.every_s = self._every.get(name, FALLBACK_EVERY)

    def is_journal(self, name: str, db: str) -> bool:
        """Whether `name`'s database is in rollback-journal mode now (as last read; the
        WAL follower leaves it alone then), queuing its differential when one is due."""
        watched = self._watched.get(name)
        if watched is None:
            every = self._every.get(name, FALLBACK_EVERY)
            watched = self._watched[name] = _Watched(MarkReader(Path(db)), ChangeWatch(every))
        now = self._mono()
        if watched.checked is None or now - watched.checked >= CHECK_EVERY:
            watched.checked, watched.checks = now, watched.checks + 1
            was = watched.mark
            watched.mark = watched.reader.read()
            if watched.mark is not None and (was is None or was.wal != watched.mark.wal):
                kind = (
                    "WAL: every commit" if watched.mark.wal else "rollback journal: differentials"
                )
                log.info("continuous capture of %s: %s", name, kind)
            if watched.mark is not None and not watched.mark.wal:
                self._capture_if_due(name, watched, now)
        return watched.mark is not None and not watched.mark.wal

    def checks(self, name: str) -> int:
        """How many times `name`'s header was read (0: not watched)."""
        watched = self._watched.get(name)
        return watched.checks if watched is not None else 0

    def drop(self, name: str) -> None:
        watched = self._watched.pop(name, None)
        if watched is not None:
            watched.reader.close()

    def close(self) -> None:
        for name in list(self._watched):
            self.drop(name)

    def _works(self, name: str) -> None:
        """The capture of `name` works in this mode: a stop the WAL follower recorded
        (before the database left WAL mode) ends (the service records that once)."""
        try:
            self.service.capture_running(name)
        except (LifeboatError, OSError) as exc:
            log.warning("continuous capture of %s: not recorded: %s", name, exc)

    def _capture_if_due(self, name: str, watched: _Watched, now: float) -> None:
        mark = watched.mark
        if mark is None or not watched.watch.due(mark, now):
            return
        watch = watched.watch

        def capture(job: QueuedJob) -> object:
            try:
                outcome = self.service.run_backup(
                    name,
                    reason="continuous",
                    trigger=Trigger.CONTINUOUS,
                    job_id=job.job_id,
                    cancel=job.cancel,
                    upload=False,  # the next scheduled backup or upload sends them
                )
            except BaseException:
                watch.failed()  # the same change is due again after continuous_every
                raise
            if outcome.status != "ok":
                watch.failed()
            else:
                self._works(name)
            return outcome

        watch.began(mark, now)  # before it can end (in the queue's thread)
        try:
            self.queue.submit(
                JobKind.BACKUP, name, Trigger.CONTINUOUS, capture, priority=PRIORITY_SCHEDULED
            )
        except AlreadyRunning:
            watch.failed()  # a backup of it waits or runs: again after continuous_every
