"""Pausing the schedules: a small file beside the config (`paused.json`), so a pause
survives a restart and whichever process schedules (the tray or a `lifeboat run`
daemon) honours it within a tick.

{"paused": true, "until": "2026-03-02T13:00:00Z"} (until null: until resumed).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from lifeboat.core.manifest import iso_utc, parse_iso_utc
from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.service import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pause:
    paused: bool = False
    until: datetime | None = None  # None while paused: until the user resumes

    def active(self, now: datetime) -> bool:
        return self.paused and (self.until is None or now < self.until)


NOT_PAUSED = Pause()


def pause_file(paths: LifeboatPaths) -> Path:
    return paths.config_file.with_name("paused.json")


def read_pause(paths: LifeboatPaths) -> Pause:
    try:
        data = json.loads(pause_file(paths).read_text(encoding="utf-8"))
        until = data.get("until")
        return Pause(bool(data.get("paused")), parse_iso_utc(until) if until else None)
    except FileNotFoundError:
        return NOT_PAUSED
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring an unreadable pause file %s: %s", pause_file(paths), exc)
        return NOT_PAUSED


def save_pause(service: Service, pause: Pause) -> None:
    data = {"paused": pause.paused, "until": iso_utc(pause.until) if pause.until else None}
    service.write_file(pause_file(service.paths), (json.dumps(data) + "\n").encode())


def tomorrow(now: datetime, tz: tzinfo) -> datetime:
    """The start of the next day where the user is (a nightly backup still runs)."""
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return start.astimezone(now.tzinfo)
