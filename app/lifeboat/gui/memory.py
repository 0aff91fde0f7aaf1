"""Give memory back to the system after big work, so the tray's idle size returns near
its start (a 500 MB backup left it ~160 MB larger: freed buffers stayed in the C
allocator's heaps and thread arenas, counted as ours though unused). The same once the
start-up work settled and when a window closes: with 10,000 snapshots the start-up's
reads of the catalog left ~2 MB of freed heap, and a closed History its tables' worth.

On glibc, `malloc_trim(0)` returns the free parts of every arena to the kernel; elsewhere
(macOS, Windows, musl) the allocators give large blocks back by themselves and this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import platform
from collections.abc import Callable
from functools import cache

from PySide6.QtCore import QObject, QTimer

from lifeboat.foundation.events import Event, JobFinished

log = logging.getLogger(__name__)

#: After the last job ends: long enough for the pipeline's next step to have begun.
TRIM_AFTER_MS = 1500


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory(collect: bool = True) -> bool:
    """Collect garbage (`collect`), then hand the allocator's free memory back; True if
    any was."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    released = bool(trim(0))
    log.debug("memory trimmed after work (released: %s)", released)
    return released


class TrimAfterWork(QObject):
    """Releases free memory once the jobs have ended (`busy()` says whether any runs)."""

    def __init__(self, busy: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._busy = busy
        self.trims = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._release)
        self.settled_trims = 0  # after the start-up work or a closed window
        self._settled = QTimer(self)
        self._settled.setSingleShot(True)
        self._settled.timeout.connect(self._release_settled)

    def soon(self, *_: object) -> None:
        """Start-up work settled, or a window closed (Qt deletes it at the loop's next
        turn): give back what it freed, unless a job runs then (its end trims)."""
        try:
            self._settled.start(TRIM_AFTER_MS)
        except RuntimeError:  # the tray is quitting: Qt deleted the timer before the window
            return

    def _release_settled(self) -> None:
        if self._busy():
            return  # the trim after the job gives it back too, once, after the work
        # No garbage collection here: on the GUI thread it can take 0.1-0.2 s with a full
        # heap, and a job may start just then (what start-up and a closed window freed is
        # free already, without cycles to collect)
        release_free_memory(collect=False)
        self.settled_trims += 1

    def on_event(self, event: Event) -> None:
        if isinstance(event, JobFinished):
            self._timer.start(TRIM_AFTER_MS)

    def _release(self) -> None:
        if self._busy():
            self._timer.start(TRIM_AFTER_MS)  # still working: once it all ends
            return
        release_free_memory()
        self.trims += 1
