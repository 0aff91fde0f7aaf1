"""Desktop notifications: the changes of the databases' problems, and nothing else.

A thin wrapper over service/notices.py's `decide`: after each status read it is given the
problems now; what changed since the user was last told becomes one notification (a
burst is one that names them all), held back if it comes too soon after the last one
and then shown with the next, never dropped. What the user was told is kept in
`tray-notices.json` beside the config, so a restart repeats nothing and misses nothing
that changed while the tray was not running. Kinds the preferences turn off count as
told, silently.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.foundation.states import Health
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.gui.wording import in_gui_words
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.notices import MIN_GAP, decide
from lifeboat.service.problems import SEVERITY, SourceProblem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    title: str
    text: str
    level: str  # error | warning | info


Show = Callable[[Notification], None]
#: Keeps what the user was told (in the background), and asks to decide again at a time.
Remember = Callable[[dict[str, Health]], None]
Again = Callable[[datetime], None]


def told_file(paths: LifeboatPaths) -> Path:
    return paths.config_file.with_name("tray-notices.json")


def load_told(paths: LifeboatPaths) -> dict[str, Health]:
    """What the user was last told of (empty on the first start: everything is new)."""
    try:
        data = json.loads(told_file(paths).read_text(encoding="utf-8"))
        return {str(s): Health(k) for s, k in data.get("told", {}).items() if k in SEVERITY}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("ignoring unreadable %s: %s", told_file(paths), exc)
        return {}


def remember_told(service: Service, paths: LifeboatPaths) -> Callable[[Mapping[str, Health]], None]:
    """What the Notifier calls to keep what the user was told (written off the GUI thread)."""

    written = threading.Lock()
    latest = [0]  # the newest state asked for: an older write that comes later is skipped

    def remember(told: Mapping[str, Health]) -> None:
        latest[0] += 1
        mine, data = latest[0], told_bytes(told)

        def write() -> None:
            with written:
                if mine == latest[0]:
                    service.write_file(told_file(paths), data)

        run_in_background(write, what="note a notice")

    return remember


def told_bytes(told: Mapping[str, Health]) -> bytes:
    return (json.dumps({"told": {s: str(k) for s, k in told.items()}}, indent=2) + "\n").encode()


def wanted_by(prefs: TrayPreferences) -> Callable[[Health], bool]:
    def wanted(kind: Health) -> bool:
        if kind is Health.STALE:
            return prefs.notify_stale
        if kind is Health.REMOTE_UNREACHABLE:
            return prefs.notify_remote
        return prefs.notify_failures  # damaged, failed, drill failed

    return wanted


class Notifier:
    def __init__(
        self,
        show: Show,
        preferences: Callable[[], TrayPreferences],
        *,
        told: dict[str, Health] | None = None,
        remember: Remember = lambda _told: None,
        again: Again = lambda _at: None,
        can_show: Callable[[], bool] = lambda: True,
    ) -> None:
        self._show = show
        self._preferences = preferences
        self._remember = remember
        self._again = again
        self._can_show = can_show
        self.told: dict[str, Health] = dict(told or {})
        self._last_shown: datetime | None = None
        #: how long after a notice the next one waits (held, then shown)
        self.min_gap = MIN_GAP
        self.shown: list[Notification] = []  # this session's, newest last

    def update(
        self, problems: Mapping[str, SourceProblem], known: Collection[str], now: datetime
    ) -> Notification | None:
        """The problems now (after a status read): show what changed; returns it."""
        decision = decide(
            self.told,
            problems,
            known,
            now,
            last_shown=self._last_shown,
            can_show=self._can_show(),
            wanted=wanted_by(self._preferences()),
            min_gap=self.min_gap,
        )
        if decision.told != self.told:
            self.told = decision.told
            self._remember(dict(self.told))
        if decision.again_at is not None:
            self._again(decision.again_at)
        if decision.notice is None:
            return None
        notice = decision.notice
        note = Notification(notice.title, in_gui_words(notice.text), notice.level)
        self._last_shown = now
        self.shown.append(note)
        log.info("notification: %s", note.title)
        self._show(note)
        return note
