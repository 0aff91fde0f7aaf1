"""The capture thread: one follower per continuously protected source, polled every
0.15 s while the tray or `lifeboat run` schedules.

The scheduler starts it, tells it when the settings changed (`reload`: a source switched
on or off, removed, renamed, or its database or folder changed) and stops it (each
follower then writes what waits). A follower that fails is closed and started again
after a pause that grows (1 s, 2 s, 4 s ... 1 min): the next start catches up, so a
failure loses nothing the live file still holds. A capture that keeps failing
(`STOPPED_AFTER` failures in a row) is recorded through the service as stopped, which
the status and the health watch report; its next success ends it.

One thread for all sources: polls cost an `os.stat` when nothing changed, and a commit
burst is written within the follower's own limits. Starting a chain takes a base
snapshot, during which the other sources wait (their commits wait in their WAL).

A source whose database is not in WAL mode gets frequent differentials instead
(journal_watch.py), through the scheduler's job queue (or a queue of the host's own);
the header read that tells the modes apart moves a source between the two.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lifeboat.foundation.errors import LifeboatError
from lifeboat.scheduling.failure_words import why_of
from lifeboat.scheduling.history_upload import HistoryUploader
from lifeboat.scheduling.journal_watch import JournalWatches
from lifeboat.scheduling.queue import JobQueue
from lifeboat.service import Service

if TYPE_CHECKING:
    from lifeboat.core.history.follower import Follower

log = logging.getLogger(__name__)

#: 0.15 s: with the follower's 0.5 s wait before writing a segment, a commit reaches a
#: segment within about 0.8 s (p99 0.76 s at 100 commits/s on the 1 GiB bench database);
#: 0.1 s cost a fifth more CPU (1.2% of a core against 0.9%) for 0.15 s less
POLL_INTERVAL = 0.15
STOPPED_AFTER = 3
_FIRST_PAUSE, _LONGEST_PAUSE = 1.0, 60.0


@dataclass
class _Followed:
    key: tuple[str, str]  # (database, history folder) it was made for
    follower: Follower | None = None
    failures: int = 0
    retry_at: float = 0.0
    reported: bool = False  # its stop was recorded (a success records it runs again)
    started: bool = False  # its start() succeeded: poll() from now on
    not_compacted: str | None = None  # recorded: its sealed history waits for a key


class CaptureHost:
    def __init__(
        self,
        service: Service,
        *,
        interval: float = POLL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        queue: JobQueue | None = None,
    ) -> None:
        self.service = service
        #: where rollback-journal sources' differentials run (None: a queue of its own)
        self._owns_queue = queue is None
        self._queue = queue if queue is not None else JobQueue(service)
        self.journals = JournalWatches(service, self._queue, monotonic=monotonic)
        self.interval = interval
        self._mono = monotonic
        self._followed: dict[str, _Followed] = {}
        self._wanted: dict[str, tuple[str, str]] | None = None
        self._every: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self.turns = 0  # of the thread's loop (what a test waits on while nothing happens)
        #: sends the history to the remotes, in a thread of its own (never delays a poll)
        self.uploads = HistoryUploader(service, monotonic=monotonic)

    def start(self) -> None:
        """Follow the sources the settings ask for, in a thread of its own."""
        self.reload()
        if self._owns_queue:
            self._queue.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lifeboat-capture", daemon=True)
        self._thread.start()
        self.uploads.start()

    def reload(self) -> None:
        """Read which sources to follow again (applied by the thread at its next poll)."""
        try:
            wanted = self.service.continuous_sources()
            every = self.service.continuous_every()
        except LifeboatError as exc:
            log.error("continuous capture keeps its sources: %s", exc.message)
            return
        with self._lock:
            self._wanted, self._every = wanted, every
        self.uploads.reload()

    def set_paused(self, paused: bool) -> None:
        """Paused (the user paused backups): every follower writes what it took and
        closes; resumed: each starts again and catches up from the live file (the
        timeline shows the time in between as a gap)."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()
        self.uploads.set_paused(paused)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; every follower writes what it took and closes."""
        self.uploads.stop(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._owns_queue:
            self._queue.shutdown(timeout)

    @property
    def following(self) -> list[str]:
        return [n for n, f in self._followed.items() if f.started]

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                began, self.turns = self._mono(), self.turns + 1
                self._apply_wanted()
                if self._paused.is_set():
                    for name, followed in self._followed.items():
                        self._close(name, followed)
                    self._stop.wait(self.interval)
                    continue
                for name, followed in list(self._followed.items()):
                    if self._stop.is_set():
                        break
                    self._step(name, followed)
                self._stop.wait(max(0.0, self.interval - (self._mono() - began)))
        finally:
            for name in list(self._followed):
                self._drop(name)
            self.journals.close()

    def _apply_wanted(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is None:
            return
        self.journals.set_every(self._every)
        for name, followed in list(self._followed.items()):
            if wanted.get(name) != followed.key:
                self._drop(name)
        for name, key in wanted.items():
            if name not in self._followed:
                self._followed[name] = _Followed(key)
                log.info("continuous capture of %s: following", name)

    def _step(self, name: str, followed: _Followed) -> None:
        if followed.failures and self._mono() < followed.retry_at:
            return
        polled = False
        try:  # the header read fails too (a link planted at the database's name)
            if self.journals.is_journal(name, followed.key[0]):
                self._close(name, followed)  # not in WAL mode (now): differentials instead
                # the WAL follower's failures are over; the differentials' first success
                # ends a recorded stop (journal_watch.py)
                followed.failures, followed.reported = 0, False
                return
            if followed.follower is None:
                followed.follower = self.service.open_follower(name)
            if not followed.started:
                followed.follower.start()
                followed.started = True
            else:
                followed.follower.poll()
                polled = True
        except Exception as exc:  # any failure: reported, retried; the thread goes on
            self._failed(name, followed, exc)
            return
        # Only a poll that went through ends a run of failures: a start that works
        # before every poll fails again must still count up to being reported.
        if polled and (followed.failures or followed.reported):
            followed.failures = 0
            if followed.reported:
                followed.reported = False
                self._tell(self.service.capture_running, name)
        self._report_compaction(name, followed)

    def _report_compaction(self, name: str, followed: _Followed) -> None:
        """A sealed history that cannot be compacted (no identity: a locked keyring) is
        recorded once; its compaction catching up ends it."""
        why = followed.follower.status.not_compacted if followed.follower else None
        if why == followed.not_compacted:
            return
        followed.not_compacted = why
        if why is not None:
            self._tell(lambda n: self.service.history_not_compacted(n, why), name)
        else:
            self._tell(self.service.capture_running, name)

    def _failed(self, name: str, followed: _Followed, exc: Exception) -> None:
        why = why_of(exc)
        followed.failures += 1
        pause = min(_LONGEST_PAUSE, _FIRST_PAUSE * 2 ** (followed.failures - 1))
        followed.retry_at = self._mono() + pause
        log.warning(
            "continuous capture of %s failed (%d in a row): %s; again in %.0f s",
            name,
            followed.failures,
            why,
            pause,
            exc_info=not isinstance(exc, (LifeboatError, OSError)),
        )
        self._close(name, followed)
        if followed.failures >= STOPPED_AFTER and not followed.reported:
            followed.reported = True
            self._tell(lambda n: self.service.capture_stopped(n, why), name)

    def _close(self, name: str, followed: _Followed) -> None:
        """Close the follower (what it took is written); the next step makes a new one,
        whose start catches up from the live file."""
        follower, followed.follower, followed.started = followed.follower, None, False
        if follower is None:
            return
        try:
            follower.close()
        except Exception as exc:  # already failing: its commits are taken back next start
            log.warning("continuous capture of %s: closing failed: %s", name, why_of(exc))

    def _drop(self, name: str) -> None:
        self.journals.drop(name)
        followed = self._followed.pop(name, None)
        if followed is not None:
            self._close(name, followed)
            log.info("continuous capture of %s: stopped following", name)

    def _tell(self, record: Callable[[str], None], name: str) -> None:
        try:
            record(name)
        except (LifeboatError, OSError) as exc:
            log.warning("continuous capture of %s: not recorded: %s", name, why_of(exc))
