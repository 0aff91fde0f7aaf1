"""Progress reporting and cancellation shared by every long operation (no Qt)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from lifeboat.foundation.errors import Cancelled

#: progress(phase, done, total): `done`/`total` in bytes unless the phase says otherwise.
Progress = Callable[[str, int, int], None]


def no_progress(phase: str, done: int, total: int) -> None:
    """A progress callback that ignores everything."""


#: How often a person's screen needs a progress update; more is work nobody sees.
PROGRESS_INTERVAL = 0.1


class ProgressThrottle:
    """Which progress reports to pass on to a screen: per key (a job, a phase), the
    first, then at most one every `interval` seconds, and always the last (done >= total).
    Safe to call from several threads."""

    def __init__(
        self, interval: float = PROGRESS_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def passes(self, key: Hashable, done: int, total: int) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval and done < total:
                return False
            self._last[key] = now
            return True

    def forget(self, key: Hashable) -> None:
        """The key is done (its job finished): keep no state for it."""
        with self._lock:
            self._last.pop(key, None)


class CancelToken:
    """A flag set from any thread; long operations check it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancellation was asked for."""
        if self._event.is_set():
            raise Cancelled(f"operation {self.reason}", "nothing was kept from it")

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if cancelled meanwhile."""
        return self._event.wait(seconds)
