"""Desktop notifications: only for real problems and the recovery after one.

Health notices (a backup failed, a source went stale, its remote has been unreachable
for a day, it recovered) become notifications if the preferences allow; successes never
do. The scheduler raises each problem once per streak (and remembers it in the catalog);
on top of that, rate limits: the same notice for the same source at most once per
REPEAT_AFTER, and at most BURST notifications per BURST_WINDOW (the rest are counted and
mentioned in the next one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from lifeboat.gui.preferences import TrayPreferences

log = logging.getLogger(__name__)

REPEAT_AFTER = 6 * 3600.0
BURST = 3
BURST_WINDOW = 600.0


@dataclass(frozen=True)
class Notification:
    title: str
    text: str
    level: str  # error | warning | info


Show = Callable[[Notification], None]


class Notifier:
    def __init__(
        self,
        show: Show,
        preferences: Callable[[], TrayPreferences],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._show = show
        self._preferences = preferences
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._told: dict[str, str] = {}  # source -> the problem the user was told about
        self._recent: list[float] = []
        self._held_back = 0
        self.shown: list[Notification] = []  # this session's, newest last

    def on_health(self, source: str, state: str, message: str) -> Notification | None:
        """Turn one health notice into a notification (or not); returns what was shown."""
        note = self._compose(source, state, message)
        if note is None:
            return None
        now = self._clock()
        last = self._last.get((source, state))
        if last is not None and now - last < REPEAT_AFTER:
            log.info("notification not repeated: %s %s", source, state)
            return None
        self._recent = [t for t in self._recent if now - t < BURST_WINDOW]
        if len(self._recent) >= BURST:
            self._held_back += 1
            log.info("notification held back (rate limit): %s %s", source, state)
            return None
        if self._held_back:
            more = self._held_back
            note = Notification(
                note.title,
                f"{note.text}\n(and {more} more notice{'s' if more > 1 else ''}: see History)",
                note.level,
            )
            self._held_back = 0
        self._recent.append(now)
        self._last[(source, state)] = now
        if state == "recovered":
            self._told.pop(source, None)
        elif state != "drill-failed":  # a drill's verdict stands alone: no "recovered"
            self._told[source] = state
        self.shown.append(note)
        self._show(note)
        return note

    def remember(self, source: str, problem: str) -> None:
        """A problem the user already knows of (it was there when the tray started), so
        its recovery is announced."""
        self._told[source] = problem

    def _compose(self, source: str, state: str, message: str) -> Notification | None:
        prefs = self._preferences()
        if state == "failed":
            if not prefs.notify_failures:
                return None
            return Notification(f"Backup of {source} failed", message, "error")
        if state == "stale":
            if not prefs.notify_stale:
                return None
            return Notification(
                f"{source} is overdue",
                f"{source} has no recent good backup. {_detail(message)}",
                "warning",
            )
        if state == "drill-failed":
            if not prefs.notify_failures:
                return None
            return Notification(
                f"Restore drill of {source} failed",
                f"{message} Your newest backups may not restore: see History.",
                "error",
            )
        if state == "remote-unreachable":
            if not prefs.notify_remote:
                return None
            return Notification(
                f"Cannot upload {source}",
                f"{_detail(message)} The snapshots are safe on this "
                "computer; Lifeboat keeps trying.",
                "warning",
            )
        if state == "recovered":
            told = self._told.get(source)
            if told is None:
                return None  # the user never heard of a problem: nothing to clear
            if told == "remote-unreachable":
                return Notification(f"Uploads of {source} work again", message, "info")
            return Notification(f"{source} is backed up again", message, "info")
        return None


def _detail(message: str) -> str:
    """The scheduler's stale message, made readable: 'newest good snapshot 2026-…'."""
    _, _, rest = message.partition(": ")
    if not rest:
        return ""
    if rest.startswith("newest good snapshot "):
        stamp = rest.removeprefix("newest good snapshot ")[:16].replace("T", " ")
        return f"The newest good snapshot is from {stamp} UTC."
    return rest[0].upper() + rest[1:] + "."
