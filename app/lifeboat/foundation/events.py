"""Events the service and the scheduler emit: plain data, no Qt.

Front ends subscribe to the service's hub (EventHub) with a callback; the GUI forwards
them across threads through one Qt bridge (gui/bridge.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lifeboat.foundation.states import Health, JobStatus


@dataclass(frozen=True)
class JobQueued:
    job_id: int
    kind: str
    source: str | None
    trigger: str


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    kind: str
    source: str | None


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    source: str | None
    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    kind: str
    source: str | None
    status: JobStatus
    snapshot_id: str | None = None
    error: str | None = None  # why it failed or was skipped; what an ok one found
    #: A backup that found its database unchanged: the snapshot that already holds it.
    unchanged_since: str | None = None


@dataclass(frozen=True)
class RetryScheduled:
    source: str | None
    kind: str
    attempt: int
    at: datetime
    error: str


@dataclass(frozen=True)
class NextRunChanged:
    source: str
    next_run: datetime | None


@dataclass(frozen=True)
class SourceHealth:
    """A source went stale, failed, or recovered (the notifications' subject)."""

    source: str
    state: Health
    message: str


SchedulerEvent = RetryScheduled | NextRunChanged | SourceHealth

Event = JobQueued | JobStarted | JobProgress | JobFinished | SchedulerEvent
EventSink = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """An event sink that drops everything."""


class EventHub:
    """Whoever wants the events subscribes (the tray's bridge, the daemon's log, tests);
    whoever makes them publishes. A listener that fails is logged and never stops the
    work that published the event. Thread-safe."""

    def __init__(self) -> None:
        self._sinks: list[EventSink] = []
        self._lock = threading.Lock()

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        """Call `sink(event)` for every event from now on; returns the unsubscribe."""
        with self._lock:
            self._sinks = [*self._sinks, sink]

        def unsubscribe() -> None:
            with self._lock:
                self._sinks = [s for s in self._sinks if s is not sink]

        return unsubscribe

    def publish(self, event: Event) -> None:
        for sink in self._sinks:  # a copy: subscribing meanwhile never disturbs this loop
            try:
                sink(event)
            except Exception:
                logging.getLogger(__name__).exception("an event listener failed on %r", event)
