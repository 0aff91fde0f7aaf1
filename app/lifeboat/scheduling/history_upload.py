"""The history uploader: sends each continuously protected source's new history to its
remote every `continuous_upload_every` (10 s by default), in a thread of its own.

The capture host (capture.py) starts, reloads, pauses and stops it with its followers,
so it runs exactly while the capture does (and waits while backups are paused); being
a thread of its own, a slow or unreachable remote never delays a capture poll. A round
that finds nothing new here makes no request at all (the plan is made from the
catalog's proven copies). A round that fails is tried again after a pause that grows
(the interval, doubled each time, at most 5 min); `FAILED_AFTER` failures in a row are
recorded through the service as a problem (the status and the health watch report it),
and the next success ends it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken
from lifeboat.scheduling.failure_words import why_of
from lifeboat.service import Service

log = logging.getLogger(__name__)

FAILED_AFTER = 3
_LONGEST_PAUSE = 300.0
_TICK = 0.5  # how often the thread looks whether a source is due


@dataclass
class _Due:
    every: float
    at: float = 0.0  # monotonic time of its next round
    failures: int = 0
    reported: bool = False


class HistoryUploader:
    def __init__(
        self, service: Service, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.service = service
        self._mono = monotonic
        self._due: dict[str, _Due] = {}
        self._wanted: dict[str, float] | None = None
        self._lock = threading.Lock()
        self._cancel = CancelToken()
        self._thread: threading.Thread | None = None
        self._paused = threading.Event()
        self.rounds = 0  # rounds finished (for tests and the bench)
        self.turns = 0  # of the thread's loop (what a test waits on while nothing is due)

    def start(self) -> None:
        self.reload()
        self._cancel = CancelToken()
        self._thread = threading.Thread(
            target=self._run, name="lifeboat-history-upload", daemon=True
        )
        self._thread.start()

    def reload(self) -> None:
        try:
            wanted = self.service.history_uploads()
        except LifeboatError as exc:
            log.error("history uploads keep their sources: %s", exc.message)
            return
        with self._lock:
            self._wanted = wanted

    def set_paused(self, paused: bool) -> None:
        """Backups paused: no round starts until they are resumed."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop: an upload under way is cancelled (nothing of it counts or stays open)."""
        self._cancel.cancel("Lifeboat is stopping")
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._cancel.cancelled:
            self.turns += 1
            self._apply_wanted()
            for name, due in list(self._due.items()):
                if self._cancel.cancelled:
                    return
                if self._paused.is_set():
                    break
                if self._mono() >= due.at:
                    self._round(name, due)
            self._cancel.wait(_TICK)

    def _apply_wanted(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is None:
            return
        for name in [n for n in self._due if n not in wanted]:
            del self._due[name]
        for name, every in wanted.items():
            due = self._due.setdefault(name, _Due(every, self._mono() + every))
            due.every = every

    def _round(self, name: str, due: _Due) -> None:
        try:
            # Not waiting: a `lifeboat upload` holding the claim sends what is new.
            self.service.upload_history(name, self._cancel, patience=0)
        except Exception as exc:  # any failure: reported, retried; the thread goes on
            if self._cancel.cancelled:
                return
            self._failed(name, due, exc)
            return
        finally:
            self.rounds += 1
        due.at = self._mono() + due.every
        if due.failures or due.reported:
            due.failures = 0
            if due.reported:
                due.reported = False
                self._tell(self.service.history_upload_works, name)

    def _failed(self, name: str, due: _Due, exc: Exception) -> None:
        why = why_of(exc)
        due.failures += 1
        pause = min(_LONGEST_PAUSE, due.every * 2 ** (due.failures - 1))
        due.at = self._mono() + pause
        log.warning(
            "sending the history of %s failed (%d in a row): %s; again in %.0f s",
            name,
            due.failures,
            why,
            pause,
            exc_info=not isinstance(exc, (LifeboatError, OSError)),
        )
        if due.failures >= FAILED_AFTER and not due.reported:
            due.reported = True
            self._tell(lambda n: self.service.history_upload_failed(n, why), name)

    def _tell(self, record: Callable[[str], None], name: str) -> None:
        try:
            record(name)
        except (LifeboatError, OSError) as exc:
            log.warning("history upload of %s: not recorded: %s", name, why_of(exc))
