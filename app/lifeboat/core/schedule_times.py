"""When a schedule fires: its APScheduler trigger, next and previous run times, and the
catch-up, "covered" and staleness rules built on them (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

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


def next_runs(schedule: Schedule, tz: tzinfo, now: datetime, count: int = 5) -> list[datetime]:
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


def needs_catch_up(
    schedule: Schedule, tz: tzinfo, last_success: datetime | None, now: datetime
) -> bool:
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
