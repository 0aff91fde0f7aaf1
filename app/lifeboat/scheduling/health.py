"""Each source's problem as the scheduler reports it: every change of it (a problem
starts, becomes another, or ends) is recorded as an event, posted to the webhook and
published once.

What a problem is, is service/problems.py's; what changed, service/notices.py's. The
last reported problem is kept in the catalog's events, so a restart neither repeats a
notice nor forgets one.

The webhook gets one POST per change: `event` is the new problem (damaged | failed |
stale | remote-unreachable | drill-failed) or "recovered", `message` "<source>: <the
reason in words>", and `detail` {"problem": the new problem or null, "before": the
problem it replaces or null}.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from lifeboat.foundation.events import SourceHealth
from lifeboat.foundation.states import Health
from lifeboat.service import Service
from lifeboat.service.notices import Change, changes_between, recovered_line
from lifeboat.service.notify import Webhook
from lifeboat.service.problems import SEVERITY, problems_of

log = logging.getLogger(__name__)


class HealthWatch:
    def __init__(self, service: Service, webhook: Webhook) -> None:
        self.service = service
        self.webhook = webhook
        self.problems: dict[str, Health] = {}  # source -> its problem, as last reported

    def load(self) -> None:
        """The problem each source was last reported with."""
        self.problems = {}
        for name in self.service.config().sources:
            kind = self.service.last_event_kind(name, "health:")
            state = kind.removeprefix("health:") if kind is not None else None
            if state in SEVERITY:
                self.problems[name] = Health(state)

    def check(self, now: datetime, tz: tzinfo) -> list[Change]:
        """Report each change of a source's problem since the last check."""
        sources = self.service.status(now, tz).sources
        known = [s.name for s in sources]
        self.problems = {s: k for s, k in self.problems.items() if s in known}
        changes = changes_between(self.problems, problems_of(sources, now), known)
        for change in changes:
            self._report(change)
        return changes

    def _report(self, change: Change) -> None:
        source, after = change.source, change.after
        if after is None:
            state = Health.RECOVERED
            message = f"{source}: {recovered_line(change)}"
            self.problems.pop(source, None)
        else:
            state = after.kind
            message = f"{source}: {after.reason}"
            self.problems[source] = after.kind
        log.info("health of %s: %s (%s)", source, state, message)
        self.service.add_event(
            "info" if after is None else "warning", message, source, kind=f"health:{state}"
        )
        detail: dict[str, object] = {
            "problem": str(after.kind) if after else None,
            "before": str(change.before) if change.before else None,
        }
        self.webhook.send(state, source, message, detail)
        self.service.publish(SourceHealth(source, state, message))
