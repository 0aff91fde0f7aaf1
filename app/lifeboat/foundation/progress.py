"""Progress reporting and cancellation shared by every long operation (no Qt)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from lifeboat.foundation.errors import Cancelled

#: progress(phase, done, total): `done`/`total` in bytes unless the phase says otherwise.
Progress = Callable[[str, int, int], None]


def no_progress(phase: str, done: int, total: int) -> None:
    """A progress callback that ignores everything."""


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
