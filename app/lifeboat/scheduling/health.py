"""Each source's health as the scheduler reports it: a problem starts (failed, stale, a
remote behind, a drill failed) or ends, and each change is recorded as an event, posted
to the webhook and published once.

The state is kept in the catalog's events (through the service), so a restart neither
repeats a notice nor forgets one.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from lifeboat.foundation.events import SourceHealth
from lifeboat.foundation.states import Health
from lifeboat.service import Service
from lifeboat.service.notify import Webhook

log = logging.getLogger(__name__)
#: The problems whose start and end are notices (a failed drill is a notice of its own).
PROBLEMS = (Health.FAILED, Health.STALE, Health.REMOTE_UNREACHABLE)


class HealthWatch:
    def __init__(self, service: Service, webhook: Webhook) -> None:
        self.service = service
        self.webhook = webhook
        self.problems: dict[str, Health] = {}  # source -> its current problem

    def load(self) -> None:
        """The health each source was last reported in."""
        self.problems = {}
        for name in self.service.config().sources:
            kind = self.service.last_event_kind(name, "health:")
            state = kind.removeprefix("health:") if kind is not None else None
            if state in PROBLEMS:
                self.problems[name] = Health(state)

    def check(self, now: datetime, tz: tzinfo) -> None:
        """New problems the status shows (stale, a remote behind for a day)."""
        for source in self.service.status(now, tz).sources:
            if self.problems.get(source.name) is not None:
                continue
            if source.stale:
                age = (
                    "never backed up"
                    if source.last_snapshot is None
                    else f"newest good snapshot {source.last_snapshot.isoformat()}"
                )
                self.set(source.name, Health.STALE, f"{source.name} is stale: {age}")
            elif source.remote_behind:
                self.set(
                    source.name,
                    Health.REMOTE_UNREACHABLE,
                    f"{source.name}: {source.uploads_pending} snapshot(s) have waited more "
                    f"than a day for remote {source.remote}",
                )

    def set(self, source: str, problem: Health | None, message: str) -> None:
        """A change of `source`'s problem (None: it recovered); nothing if unchanged."""
        before = self.problems.get(source)
        if problem == before:
            return
        state = problem or Health.RECOVERED
        if problem is None:
            self.problems.pop(source, None)
            message = f"{source}: {message}"
        else:
            self.problems[source] = problem
        self.service.add_event(
            "info" if problem is None else "warning", message, source, kind=f"health:{state}"
        )
        self.webhook.send(state, source, message)
        self.service.publish(SourceHealth(source, state, message))

    def drill_failed(self, source: str, error: str) -> None:
        self.service.publish(SourceHealth(source, Health.DRILL_FAILED, error))
