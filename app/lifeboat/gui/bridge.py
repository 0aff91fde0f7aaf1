"""The one bridge from plain-data events (any thread) to Qt (the GUI thread).

The service and the scheduler call `post(event)` from their threads; `received` carries
each event to slots in the GUI thread through queued connections. Progress events come
many times a second; the bridge passes at most one per job every PROGRESS_INTERVAL
seconds (and always the last of a phase), so the GUI thread stays idle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from lifeboat.foundation.events import Event, JobFinished, JobProgress
from lifeboat.foundation.progress import ProgressThrottle


class EventBridge(QObject):
    received = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._throttle = ProgressThrottle()

    def post(self, event: Event) -> None:
        """Hand an event to the GUI thread (callable from any thread)."""
        if isinstance(event, JobProgress) and not self._throttle.passes(
            event.job_id, event.done, event.total
        ):
            return
        if isinstance(event, JobFinished):
            self._throttle.forget(event.job_id)
        self.received.emit(event)

    def subscribe(self, slot: Callable[[Event], None]) -> None:
        """Call `slot(event)` in the GUI thread for every event."""
        self.received.connect(slot, Qt.ConnectionType.QueuedConnection)

    def unsubscribe(self, slot: Callable[[Event], None]) -> None:
        with contextlib.suppress(RuntimeError, TypeError):
            self.received.disconnect(slot)
