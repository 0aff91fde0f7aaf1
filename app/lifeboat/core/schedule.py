"""Schedule specs: parse, validate and describe them (pure functions, no I/O).

Specs: `manual`, `every 30s` / `every 15m` / `every 6h` / `every 2d` (at least 10 s),
`hourly`, `daily 03:00`, `weekly mon 03:00` (several days: `weekly mon,thu 03:00`),
`monthly 1 03:00` (days 29-31 mean the month's last day in shorter months),
`cron "0 3 * * *"`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

MIN_INTERVAL_S = 10
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_TITLES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
EXAMPLES = ("every 15m", "hourly", "daily 03:00", "weekly mon,thu 03:00", "monthly 1 03:00",
            'cron "0 3 * * *"', "manual")


class ScheduleError(ValueError):
    """A schedule spec that cannot be understood; the message says why."""


@dataclass(frozen=True)
class Schedule:
    spec: str
    kind: str  # manual | interval | hourly | daily | weekly | monthly | cron
    seconds: int = 0
    hour: int = 0
    minute: int = 0
    weekdays: tuple[int, ...] = ()
    day: int = 0
    cron: str = ""

    @property
    def is_manual(self) -> bool:
        return self.kind == "manual"

    def describe(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.kind == "manual":
            return "only when started by hand"
        if self.kind == "interval":
            for unit in ("d", "h", "m", "s"):
                size = _UNITS[unit]
                if self.seconds % size == 0:
                    n = self.seconds // size
                    word = _UNIT_WORDS[unit]
                    return f"every {word}" if n == 1 else f"every {n} {word}s"
        if self.kind == "hourly":
            return "every hour, on the hour"
        if self.kind == "daily":
            return f"every day at {at}"
        if self.kind == "weekly":
            names = [_DAY_TITLES[d] for d in self.weekdays]
            days = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            return f"every {days} at {at}"
        if self.kind == "monthly":
            last = " (the last day in shorter months)" if self.day > 28 else ""
            return f"on day {self.day} of every month at {at}{last}"
        return f"cron {self.cron}"

    @property
    def period_seconds(self) -> int:
        """Nominal time between runs (0 for manual); used for staleness."""
        return {
            "manual": 0, "interval": self.seconds, "hourly": 3600, "daily": 86400,
            "weekly": 7 * 86400 // max(1, len(self.weekdays)), "monthly": 31 * 86400,
        }.get(self.kind, 86400)


def parse_schedule(spec: str) -> Schedule:
    """Parse a schedule spec; raise ScheduleError with a clear reason."""
    if not isinstance(spec, str):
        raise ScheduleError("a schedule must be text, e.g. 'daily 03:00'")
    text = " ".join(spec.strip().split())
    if not text:
        raise ScheduleError(_expected("empty schedule"))
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word == "manual" and not rest:
        return Schedule(text, "manual")
    if word == "hourly" and not rest:
        return Schedule(text, "hourly")
    if word == "every":
        return _parse_every(text, rest)
    if word == "daily":
        hour, minute = _parse_time(text, rest)
        return Schedule(text, "daily", hour=hour, minute=minute)
    if word == "weekly":
        return _parse_weekly(text, rest)
    if word == "monthly":
        return _parse_monthly(text, rest)
    if word == "cron":
        return _parse_cron(text, rest)
    raise ScheduleError(_expected(f"unknown schedule {spec!r}"))


def _expected(problem: str) -> str:
    return f"{problem}; expected one of: " + ", ".join(EXAMPLES)


def _parse_every(text: str, rest: str) -> Schedule:
    match = re.fullmatch(r"(\d+)\s*([smhd])", rest.lower())
    if not match:
        raise ScheduleError(f"{text!r}: write the interval like 'every 30s', 'every 15m', "
                            "'every 6h' or 'every 2d'")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < MIN_INTERVAL_S:
        raise ScheduleError(f"{text!r}: the shortest interval is {MIN_INTERVAL_S}s")
    if seconds > 366 * 86400:
        raise ScheduleError(f"{text!r}: the longest interval is one year")
    return Schedule(text, "interval", seconds=seconds)


def _parse_time(text: str, value: str) -> tuple[int, int]:
    match = _TIME_RE.match(value.strip())
    if not match:
        raise ScheduleError(f"{text!r}: the time must be HH:MM in 24-hour form, e.g. 03:00")
    return int(match.group(1)), int(match.group(2))


def _parse_weekly(text: str, rest: str) -> Schedule:
    days_text, _, time_text = rest.partition(" ")
    if not days_text or not time_text:
        raise ScheduleError(f"{text!r}: write it like 'weekly mon 03:00' or "
                            "'weekly mon,thu 03:00'")
    days: list[int] = []
    full_names = tuple(title.lower() for title in _DAY_TITLES)
    for name in days_text.lower().split(","):
        name = name.strip()
        if name in DAY_NAMES:
            index = DAY_NAMES.index(name)
        elif name in full_names:
            index = full_names.index(name)
        else:
            raise ScheduleError(f"{text!r}: unknown day {name!r}; use mon, tue, wed, thu, "
                                "fri, sat, sun")
        if index in days:
            raise ScheduleError(f"{text!r}: {name} is listed twice")
        days.append(index)
    hour, minute = _parse_time(text, time_text)
    return Schedule(text, "weekly", hour=hour, minute=minute, weekdays=tuple(sorted(days)))


def _parse_monthly(text: str, rest: str) -> Schedule:
    day_text, _, time_text = rest.partition(" ")
    if not day_text.isdigit() or not time_text:
        raise ScheduleError(f"{text!r}: write it like 'monthly 1 03:00' (day 1-31, then time)")
    day = int(day_text)
    if not 1 <= day <= 31:
        raise ScheduleError(f"{text!r}: the day of the month must be 1-31")
    hour, minute = _parse_time(text, time_text)
    return Schedule(text, "monthly", hour=hour, minute=minute, day=day)


def _parse_cron(text: str, rest: str) -> Schedule:
    try:
        parts = shlex.split(rest)
    except ValueError:
        parts = []
    expr = " ".join(parts[0].split()) if len(parts) == 1 else " ".join(parts)
    if len(expr.split()) != 5:
        raise ScheduleError(f"{text!r}: a cron schedule has five fields in quotes, e.g. "
                            'cron "0 3 * * *"')
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        raise ScheduleError(f"{text!r}: {exc}") from None
    return Schedule(f'cron "{expr}"', "cron", cron=expr)
