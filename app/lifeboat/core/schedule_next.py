"""A schedule's next run time by plain calendar arithmetic, where that is exact.

`lifeboat status` shows every source's next run. Asking APScheduler's triggers costs
~50 ms of imports (asyncio among them) before the first answer, which is most of the
command's start-up budget. For the common schedules (hourly, daily, weekly, monthly and
the intervals that follow the clock) the next run is the first matching wall-clock time
after now; that is what the triggers answer too whenever the zone's UTC offset stays the
same from now until that time: wall time and UTC then move together. Across a change of
the clocks (and for cron lines and anchored intervals) this answers None and the caller
asks the triggers (core/schedule_times.py), so the subtle cases keep one implementation.
tests/core/test_schedule_next.py compares both over many zones, times and DST nights.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta, tzinfo

from lifeboat.core.schedule import Schedule

#: How densely the zone's offset is probed between now and the answer. Real zones never
#: change their clocks twice within six hours, so equal offsets at every probe mean no
#: change in between.
_PROBE_STEP = timedelta(hours=6)
#: Days searched for a daily, weekly or monthly time (a monthly one is at most 31 away).
_SEARCH_DAYS = 63


def quick_next_run(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The first run strictly after `now` (aware, in `tz`), or None when this cannot tell
    it exactly: manual, cron or anchored-interval schedules, or a change of the clocks
    between now and that run."""
    wall_now = now.astimezone(tz).replace(tzinfo=None)
    wall = _next_wall_time(schedule, wall_now)
    if wall is None:
        return None
    offset = now.astimezone(tz).utcoffset()
    fire = wall.replace(tzinfo=tz)  # fold 0: as APScheduler localizes a wall time
    if fire.utcoffset() != offset or not _steady_offset(tz, now.astimezone(UTC), fire):
        return None
    return fire


def _next_wall_time(schedule: Schedule, wall_now: datetime) -> datetime | None:
    """The first wall-clock time after `wall_now` the schedule names (naive), or None for
    the kinds left to the triggers."""
    kind = schedule.kind
    if kind == "hourly":
        return _step_until(wall_now, timedelta(hours=1), lambda _: True, "hour")
    if kind == "interval":
        return _clock_interval(schedule.seconds, wall_now)
    if kind in ("daily", "weekly", "monthly"):
        at = time(schedule.hour, schedule.minute)
        for day in _days_from(wall_now):
            moment = datetime.combine(day, at)
            if moment > wall_now and _runs_on(schedule, moment):
                return moment
    return None


def _clock_interval(seconds: int, wall_now: datetime) -> datetime | None:
    """Intervals that divide a minute, an hour or a day run on the clock's multiples
    (core/schedule_times.py's _interval_trigger); others are anchored: None."""
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 60 and 60 % seconds == 0:
        step, unit = timedelta(seconds=1), "second"
        return _step_until(wall_now, step, lambda t: t.second % seconds == 0, unit)
    if seconds % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        step, unit = timedelta(minutes=1), "minute"
        return _step_until(wall_now, step, lambda t: t.minute % minutes == 0, unit)
    if seconds % 3600 == 0 and hours <= 24 and 24 % hours == 0:
        step, unit = timedelta(hours=1), "hour"
        return _step_until(wall_now, step, lambda t: t.hour % hours == 0, unit)
    return None


def _step_until(
    wall_now: datetime, step: timedelta, fits: Callable[[datetime], bool], unit: str
) -> datetime:
    """The first time after `wall_now`, whole in `unit` (seconds, minutes or hours), that
    `fits`; at most a day of steps."""
    whole = {
        "second": wall_now.replace(microsecond=0),
        "minute": wall_now.replace(second=0, microsecond=0),
        "hour": wall_now.replace(minute=0, second=0, microsecond=0),
    }[unit]
    moment = whole + step
    while not fits(moment):
        moment += step
    return moment


def _days_from(wall_now: datetime) -> Iterator[datetime]:
    start = datetime.combine(wall_now.date(), time())
    return (start + timedelta(days=n) for n in range(_SEARCH_DAYS))


def _runs_on(schedule: Schedule, moment: datetime) -> bool:
    if schedule.kind == "daily":
        return True
    if schedule.kind == "weekly":
        return moment.weekday() in schedule.weekdays
    # monthly: days 29-31 mean the month's last day in shorter months
    last = calendar.monthrange(moment.year, moment.month)[1]
    return moment.day == min(schedule.day, last)


def _steady_offset(tz: tzinfo, start: datetime, fire: datetime) -> bool:
    """Whether `tz`'s UTC offset is the same at every instant from `start` to `fire`."""
    first = start.astimezone(tz).utcoffset()
    end = fire.astimezone(UTC)
    probe = start
    while probe < end:
        probe = min(probe + _PROBE_STEP, end)
        if probe.astimezone(tz).utcoffset() != first:
            return False
    return True
