"""A schedule as an APScheduler trigger (what the scheduler runs, and what run times are
computed from wherever plain arithmetic is not exact: core/schedule_next.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lifeboat.core.schedule import DAY_NAMES, Schedule, cron_trigger

#: Interval schedules that do not divide a day are anchored here, so their run times do
#: not depend on when the scheduler started.
_ANCHOR = datetime(2000, 1, 3)  # a Monday
_MONTH_DAYS = {
    1: 31,
    2: 28,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


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
    return SafeTrigger(cron_trigger(schedule.cron, tz), tz, once_per_wall_time=True)


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

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
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
                previous_fire_time, self.tz
            )
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
        # `every 1d` runs at midnight: APScheduler refuses an hour step of 24 ("*/24")
        every = "0" if hours == 24 else f"*/{hours}"
        return CronTrigger(hour=every, minute=0, second=0, timezone=tz)
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
