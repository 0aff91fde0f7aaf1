"""How long each phase of a row merge took, and the longest time it held the live
database's write lock (what the app's writers waited for at most): the merge's outcome
carries them, the benchmark reports them."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class PhaseTimes:
    """Seconds per phase, summed over tries; phases may run in different threads."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}
        self._guard = threading.Lock()
        self._locked_at: float | None = None
        self._longest_lock = 0.0

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            with self._guard:
                spent = self._spent.get(phase, 0.0)
                self._spent[phase] = spent + time.monotonic() - started

    def run_timed(self, phase: str, work: Callable[..., T], *args: object) -> T:
        with self.timed(phase):
            return work(*args)

    def locked(self) -> None:
        """The merge's connection began its write transaction (BEGIN IMMEDIATE)."""
        self._locked_at = time.monotonic()

    def unlocked(self) -> None:
        """It committed or rolled back."""
        if self._locked_at is not None:
            held = time.monotonic() - self._locked_at
            self._longest_lock = max(self._longest_lock, held)
            self._locked_at = None

    def seconds(self) -> dict[str, float]:
        with self._guard:
            spent = {k: round(v, 3) for k, v in self._spent.items()}
        return {**spent, "write_lock_held": round(self._longest_lock, 3)}

    def words(self) -> str:
        return ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds().items())
