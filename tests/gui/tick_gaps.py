"""How long the GUI thread was kept from its event loop, measured by a 10 ms timer.

A gap between two ticks is time the GUI thread spent busy or blocked (the failures these
tests look for: work done on the GUI thread, a wait for a lock or for the GIL) plus time
it was ready to run but the OS had no CPU for it (a loaded machine: no fault of ours).
On Linux the kernel counts the second part per thread (`/proc/<pid>/task/<tid>/schedstat`,
"time spent waiting on a runqueue"), so it is taken out of each gap: `largest` then says
how long Lifeboat kept the GUI thread away, however loaded the runner. Without that
count (another system) the gaps are taken whole, as `largest_wall` always is.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from PySide6.QtCore import QTimer


class TickGaps:
    """The largest gap between the ticks of a timer on the GUI thread (create it there)."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self._schedstat = _open_schedstat()
        self.largest = 0.0  # seconds busy or blocked between two ticks
        self.largest_wall = 0.0  # the same with waiting for a CPU counted in
        self.ticks = 0
        self._last = time.perf_counter()
        self._last_waited = self._waited()

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_waited = self._waited()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None

    def _tick(self) -> None:
        now, waited = time.perf_counter(), self._waited()
        gap = now - self._last
        self.largest_wall = max(self.largest_wall, gap)
        self.largest = max(self.largest, gap - (waited - self._last_waited))
        self._last, self._last_waited = now, waited
        self.ticks += 1

    def _waited(self) -> float:
        """Seconds this thread has waited for a CPU so far (0 where not counted)."""
        if self._schedstat is None:
            return 0.0
        try:
            return int(os.pread(self._schedstat, 200, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0


def _open_schedstat() -> int | None:
    with contextlib.suppress(OSError):
        fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        try:
            int(os.pread(fd, 200, 0).split()[1])
            return fd
        except (OSError, IndexError, ValueError):
            os.close(fd)
    return None
