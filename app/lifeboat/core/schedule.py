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
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

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
        return _describe_cron(self.cron)

    @property
    def period_seconds(self) -> int:
        """Nominal time between runs (0 for manual); for staleness and duplicates."""
        if self.kind == "cron":
            return _cron_period(self.cron)
        return {
            "manual": 0, "interval": self.seconds, "hourly": 3600, "daily": 86400,
            "weekly": 7 * 86400 // max(1, len(self.weekdays)), "monthly": 31 * 86400,
        }[self.kind]


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
    try:
        _cron_trigger(expr, UTC)
    except ValueError as exc:
        raise ScheduleError(f"{text!r}: {exc}") from None
    return Schedule(f'cron "{expr}"', "cron", cron=expr)


def _cron_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """A crontab line as an APScheduler trigger, with crontab's weekdays (0 or 7 = Sunday;
    APScheduler 3 counts 0 as Monday)."""
    minute, hour, day, month, weekday = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_weekdays(weekday), second=0, timezone=tz)


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


def _cron_period(expr: str) -> int:
    """The shortest gap between runs of a cron schedule, in seconds."""
    trigger = _cron_trigger(expr, UTC)
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


# -- triggers and times ---------------------------------------------------------------

#: Interval schedules that do not divide a day are anchored here, so their run times do
#: not depend on when the scheduler started.
_ANCHOR = datetime(2000, 1, 3)  # a Monday
_MONTH_DAYS = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31,
               11: 30, 12: 31}


def resolve_timezone(name: str | None) -> tzinfo:
    """The `timezone` setting (an IANA name), or the machine's local zone."""
    if name and name != "local":
        return ZoneInfo(name)
    try:
        import tzlocal

        return tzlocal.get_localzone()
    except Exception:  # no zone information at all: fall back to the offset in use
        return datetime.now().astimezone().tzinfo or UTC


def to_trigger(schedule: Schedule, tz: tzinfo) -> BaseTrigger | None:
    """The APScheduler trigger for a schedule (None for manual)."""
    at = {"hour": schedule.hour, "minute": schedule.minute, "second": 0, "timezone": tz}
    if schedule.kind == "manual":
        return None
    if schedule.kind == "interval":
        return SafeTrigger(_interval_trigger(schedule.seconds, tz), tz)
    if schedule.kind == "hourly":
        return SafeTrigger(CronTrigger(minute=0, second=0, timezone=tz), tz)
    if schedule.kind == "daily":
        return SafeTrigger(CronTrigger(**at), tz, once_per_wall_time=True)
    if schedule.kind == "weekly":
        days = ",".join(DAY_NAMES[d] for d in schedule.weekdays)
        return SafeTrigger(CronTrigger(day_of_week=days, **at), tz, once_per_wall_time=True)
    if schedule.kind == "monthly":
        return SafeTrigger(_monthly_trigger(schedule.day, at), tz, once_per_wall_time=True)
    return SafeTrigger(_cron_trigger(schedule.cron, tz), tz, once_per_wall_time=True)


class SafeTrigger(BaseTrigger):
    """Wraps an APScheduler trigger so its fire times always move forward.

    APScheduler 3's CronTrigger can return the same time again when the clocks fall back
    (asked for the next 02:30 after the second 02:30 of that night, it answers that
    02:30), and the scheduler then loops forever. This steps past such answers. With
    `once_per_wall_time`, a local time that comes twice fires once (a daily 02:30 backup
    runs once on the night the clocks go back).
    """

    def __init__(self, inner: BaseTrigger, tz: tzinfo, once_per_wall_time: bool = False):
        self.inner = inner
        self.tz = tz
        self.once_per_wall_time = once_per_wall_time

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime
                           ) -> datetime | None:
        after = previous_fire_time
        for _ in range(200):
            # CronTrigger searches from min(now, just after `after`): move both on.
            probe = now if after is None or _utc(now) >= _utc(after) else after
            fire = self.inner.get_next_fire_time(after, probe)
            if fire is None or previous_fire_time is None:
                return fire
            # Compare in UTC: Python compares two times of the same zone by wall time,
            # which cannot tell the two 02:30s of a fall-back night apart.
            repeated = self.once_per_wall_time and _wall(fire, self.tz) == _wall(
                previous_fire_time, self.tz)
            if _utc(fire) > _utc(previous_fire_time) and not repeated:
                return fire
            after = max(_utc(after or fire), _utc(fire)) + timedelta(minutes=1)
        return None

    def __str__(self) -> str:
        return str(self.inner)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _interval_trigger(seconds: int, tz: tzinfo) -> BaseTrigger:
    """Intervals that divide a minute, an hour or a day follow the local clock (`every 6h`
    at 00, 06, 12, 18 also across DST changes); others run every N seconds, anchored."""
    if seconds < 60 and 60 % seconds == 0:
        return CronTrigger(second=f"*/{seconds}", timezone=tz)
    minutes, hours = seconds // 60, seconds // 3600
    if seconds % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        return CronTrigger(minute=f"*/{minutes}", second=0, timezone=tz)
    if seconds % 3600 == 0 and hours <= 24 and 24 % hours == 0:
        return CronTrigger(hour=f"*/{hours}", minute=0, second=0, timezone=tz)
    return IntervalTrigger(seconds=seconds, timezone=tz, start_date=_ANCHOR.replace(tzinfo=tz))


def _monthly_trigger(day: int, at: dict[str, object]) -> BaseTrigger:
    """Day 29-31 means the month's last day in months that are shorter."""
    if day <= 28:
        return CronTrigger(day=day, **at)
    long_enough = [m for m, n in _MONTH_DAYS.items() if n >= day and not (m == 2 and day > 28)]
    shorter = [m for m in _MONTH_DAYS if m not in long_enough]
    triggers = [CronTrigger(day=day, month=",".join(map(str, long_enough)), **at)]
    if shorter:
        triggers.append(CronTrigger(day="last", month=",".join(map(str, shorter)), **at))
    return OrTrigger(triggers) if len(triggers) > 1 else triggers[0]


def next_runs(schedule: Schedule, tz: tzinfo, now: datetime, count: int = 5
              ) -> list[datetime]:
    """The next `count` run times after `now` (empty for manual)."""
    trigger = to_trigger(schedule, tz)
    runs: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while trigger is not None and len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        if _utc(fire) > _utc(now):
            runs.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return runs


def previous_run(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before `now` (None for manual)."""
    trigger = to_trigger(schedule, tz)
    if trigger is None:
        return None
    lookback = timedelta(seconds=max(schedule.period_seconds, 3600)) * 2 + timedelta(days=1)
    previous: datetime | None = None
    moment = now - lookback
    latest: datetime | None = None
    while True:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or _utc(fire) > _utc(now):
            return latest
        latest = fire
        previous, moment = fire, fire + timedelta(seconds=1)


def needs_catch_up(schedule: Schedule, tz: tzinfo, last_success: datetime | None,
                   now: datetime) -> bool:
    """True if a scheduled time passed since the last good snapshot (or there is none)."""
    if schedule.is_manual:
        return False
    if last_success is None:
        return True
    due = previous_run(schedule, tz, now)
    return due is not None and last_success < due


def covered(schedule: Schedule, last_success: datetime | None, fire_time: datetime) -> bool:
    """True if a good snapshot already covers the period of a run at `fire_time`.

    Taken within half a period before the run (a manual backup an hour before a daily
    one, say): the run would be a duplicate.
    """
    if last_success is None or schedule.is_manual:
        return False
    return fire_time - last_success < timedelta(seconds=schedule.period_seconds / 2)


def stale_after(schedule: Schedule, override: timedelta | None = None) -> timedelta | None:
    """How old the newest good snapshot may get before the source counts as stale."""
    if override is not None:
        return override
    if schedule.is_manual:
        return None
    period = timedelta(seconds=schedule.period_seconds)
    default = period * 2
    if period >= timedelta(days=1):
        default = max(default, timedelta(days=1))
    return default


_DURATION_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '6h', '2d', '1w' -> timedelta (ValueError with a clear reason)."""
    match = _DURATION_RE.match(text.strip().lower()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 15m, 6h, 2d or 1w")
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


def format_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
