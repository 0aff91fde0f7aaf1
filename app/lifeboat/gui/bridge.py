"""The one bridge from plain-data events (any thread) to Qt (the GUI thread).

The service and the scheduler call `post(event)` from their threads; `received` carries
each event to slots in the GUI thread through queued connections. Progress events come
many times a second; the bridge passes at most one per job every PROGRESS_INTERVAL
seconds (and always the last of a phase), so the GUI thread stays idle.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from lifeboat.foundation.events import Event, JobFinished, JobProgress

PROGRESS_INTERVAL = 0.1


class EventBridge(QObject):
    received = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._last_progress: dict[int, float] = {}

    def post(self, event: Event) -> None:
        """Hand an event to the GUI thread (callable from any thread)."""
        if isinstance(event, JobProgress) and not self._passes(event):
            return
        if isinstance(event, JobFinished):
            with self._lock:
                self._last_progress.pop(event.job_id, None)
        self.received.emit(event)

    def subscribe(self, slot: Callable[[Event], None]) -> None:
        """Call `slot(event)` in the GUI thread for every event."""
        self.received.connect(slot, Qt.ConnectionType.QueuedConnection)

    def unsubscribe(self, slot: Callable[[Event], None]) -> None:
        with contextlib.suppress(RuntimeError, TypeError):
            self.received.disconnect(slot)

    def _passes(self, event: JobProgress) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last_progress.get(event.job_id, 0.0)
            if now - last < PROGRESS_INTERVAL and event.done < event.total:
                return False
            self._last_progress[event.job_id] = now
            return True
