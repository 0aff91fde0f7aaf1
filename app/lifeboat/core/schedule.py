"""Schedule specs: parse, validate and describe them (pure functions, no I/O).

Specs: `manual`, `every 30s` / `every 15m` / `every 6h` / `every 2d` (at least 10 s),
`hourly`, `daily 03:00`, `weekly mon 03:00` (several days: `weekly mon,thu 03:00`),
`monthly 1 03:00` (days 29-31 mean the month's last day in shorter months),
`cron "0 3 * * *"`.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import TYPE_CHECKING

from lifeboat.core.schedule_durations import (  # where they lived before; still imported from here
    format_duration as format_duration,
)
from lifeboat.core.schedule_durations import parse_duration as parse_duration

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

MIN_INTERVAL_S = 10
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_TITLES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
EXAMPLES = (
    "every 15m",
    "hourly",
    "daily 03:00",
    "weekly mon,thu 03:00",
    "monthly 1 03:00",
    'cron "0 3 * * *"',
    "manual",
)


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
        return _describe_cron(self.cron)

    @property
    def period_seconds(self) -> int:
        """Nominal time between runs (0 for manual); for staleness and duplicates."""
        if self.kind == "cron":
            return _cron_period(self.cron)
        return {
            "manual": 0,
            "interval": self.seconds,
            "hourly": 3600,
            "daily": 86400,
            "weekly": 7 * 86400 // max(1, len(self.weekdays)),
            "monthly": 31 * 86400,
        }[self.kind]


def parse_schedule(spec: str) -> Schedule:
    """Parse a schedule spec; raise ScheduleError with a clear reason."""
    if not isinstance(spec, str):
        raise ScheduleError("a schedule must be text, e.g. 'daily 03:00'")
    return _parse_text(spec)


# A config is read again at each change and holds one schedule per source, many alike: a
# Schedule is immutable and depends on the text alone, so each text is parsed once (a
# cron's check that it ever fires walks the calendar: ~1 ms, 100 sources at each status).
# A text that fails raises each time (exceptions are not kept).
@functools.lru_cache(maxsize=512)
def _parse_text(spec: str) -> Schedule:
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
        raise ScheduleError(
            f"{text!r}: write the interval like 'every 30s', 'every 15m', 'every 6h' or 'every 2d'"
        )
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
        raise ScheduleError(f"{text!r}: write it like 'weekly mon 03:00' or 'weekly mon,thu 03:00'")
    days: list[int] = []
    full_names = tuple(title.lower() for title in _DAY_TITLES)
    for name in days_text.lower().split(","):
        name = name.strip()
        if name in DAY_NAMES:
            index = DAY_NAMES.index(name)
        elif name in full_names:
            index = full_names.index(name)
        else:
            raise ScheduleError(
                f"{text!r}: unknown day {name!r}; use mon, tue, wed, thu, fri, sat, sun"
            )
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
        raise ScheduleError(
            f'{text!r}: a cron schedule has five fields in quotes, e.g. cron "0 3 * * *"'
        )
    try:
        cron_trigger(expr, UTC)
    except ValueError as exc:
        raise ScheduleError(f"{text!r}: {exc}") from None
    if not fires_ever(expr):
        raise ScheduleError(f"cron '{expr}' never fires ({_why_never(expr)})")
    return Schedule(f'cron "{expr}"', "cron", cron=expr)


def cron_trigger(expr: str, tz: tzinfo, end_date: datetime | None = None) -> CronTrigger:
    """A crontab line as an APScheduler trigger, with crontab's weekdays (0 or 7 = Sunday;
    APScheduler 3 counts 0 as Monday)."""
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = expr.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        second=0,
        timezone=tz,
        end_date=end_date,
    )


#: The Gregorian calendar repeats every 400 years (146097 days, a whole number of
#: weeks): a cron expression that fires at all fires within any 400 years.
_CALENDAR_CYCLE_START = datetime(2001, 1, 1, tzinfo=UTC)
_CALENDAR_CYCLE_END = datetime(2401, 1, 1, tzinfo=UTC)
_MONTH_TITLES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@functools.lru_cache(maxsize=512)
def fires_ever(expr: str) -> bool:
    """Whether a (valid) cron expression names a time that ever comes: `0 3 29 2 *` does
    (in leap years), `0 3 31 2 *` does not."""
    trigger = cron_trigger(expr, UTC, end_date=_CALENDAR_CYCLE_END)
    return trigger.get_next_fire_time(None, _CALENDAR_CYCLE_START) is not None


def _why_never(expr: str) -> str:
    """Why a cron expression never fires: its days do not exist in its months (a day that
    exists comes on every weekday within the calendar's cycle)."""
    _minute, _hour, day_field, month_field, _weekday = expr.split()
    months = [_month_number(m) for m in month_field.split(",")]
    days = [int(d) if d.isdigit() else None for d in day_field.split(",")]
    if None in months or None in days:
        return f"none of the months it allows ({month_field}) has a day it allows ({day_field})"
    names = list(dict.fromkeys(_MONTH_TITLES[m - 1] for m in months if m is not None))
    numbers = list(dict.fromkeys(str(d) for d in days))
    if len(names) == 1 and len(numbers) == 1:
        return f"there is no {names[0]} {numbers[0]}"
    if len(names) == 1:
        return f"{names[0]} has no day {_either(numbers, 'or')}"
    return f"none of {_either(names, 'and')} has a day {_either(numbers, 'or')}"


def _month_number(text: str) -> int | None:
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    short = [t[:3].lower() for t in _MONTH_TITLES]
    return short.index(text.lower()) + 1 if text.lower() in short else None


def _either(words: list[str], joiner: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {joiner} {words[-1]}"


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    if field == "*" or not any(c.isdigit() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (int(x) for x in span.split("-", 1))
        else:
            low = int(span)
            high = 6 if step_text else low
        if not (0 <= low <= 7 and 0 <= high <= 7 and step >= 1):
            raise ValueError(f"day of week {part!r} is out of range 0-7")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _describe_cron(expr: str) -> str:
    """Words for the common crontab shapes; the expression itself otherwise."""
    minute, hour, day, month, weekday = expr.split()
    if not (minute.isdigit() and hour.isdigit()) or month != "*":
        return f"cron {expr}"
    at = f"{int(hour):02d}:{int(minute):02d}"
    if day == "*" and weekday == "*":
        return f"every day at {at} (cron {expr})"
    if day == "*":
        try:
            names = _crontab_weekdays(weekday).split(",")
        except ValueError:
            return f"cron {expr}"
        titles = [_DAY_TITLES[DAY_NAMES.index(n)] for n in names]
        days = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
        return f"every {days} at {at} (cron {expr})"
    if day.isdigit() and weekday == "*":
        return f"on day {int(day)} of every month at {at} (cron {expr})"
    return f"cron {expr}"


@functools.lru_cache(maxsize=512)  # of the expression alone (in UTC): once per process
def _cron_period(expr: str) -> int:
    """The shortest gap between runs of a cron schedule, in seconds."""
    trigger = cron_trigger(expr, UTC)
    moment = datetime(2001, 1, 1, tzinfo=UTC)
    fires: list[datetime] = []
    previous = None
    while len(fires) < 6:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        fires.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    gaps = [int((b - a).total_seconds()) for a, b in pairwise(fires)]
    return min(gaps, default=86400)
