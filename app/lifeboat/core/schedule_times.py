"""When a schedule fires: next and previous run times, and the catch-up, "covered" and
staleness rules built on them (pure functions, no I/O). The APScheduler triggers they ask
live in core/schedule_triggers.py and are imported only when asked: a next run that plain
arithmetic finds (core/schedule_next.py) spares `lifeboat status` their import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from lifeboat.core.schedule import Schedule
from lifeboat.core.schedule_next import quick_next_run


def resolve_timezone(name: str | None) -> tzinfo:
    """The `timezone` setting (an IANA name), or the machine's local zone."""
    if name and name != "local":
        return ZoneInfo(name)
    try:
        import tzlocal

        return tzlocal.get_localzone()
    except Exception:  # no zone information at all: fall back to the offset in use
        return datetime.now().astimezone().tzinfo or UTC


def next_runs(schedule: Schedule, tz: tzinfo, now: datetime, count: int = 5) -> list[datetime]:
    """The next `count` run times after `now` (empty for manual)."""
    if schedule.is_manual:
        return []
    if count == 1:
        quick = quick_next_run(schedule, tz, now)
        if quick is not None:
            return [quick]
    from lifeboat.core.schedule_triggers import to_trigger  # see the module's docstring

    trigger = to_trigger(schedule, tz)
    runs: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while trigger is not None and len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        if _as_utc(fire) > _as_utc(now):
            runs.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return runs


def previous_run(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before `now` (None for manual)."""
    from lifeboat.core.schedule_triggers import to_trigger  # see the module's docstring

    trigger = to_trigger(schedule, tz)
    if trigger is None:
        return None
    lookback = timedelta(seconds=max(schedule.period_seconds, 3600)) * 2 + timedelta(days=1)
    previous: datetime | None = None
    moment = now - lookback
    latest: datetime | None = None
    while True:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or _as_utc(fire) > _as_utc(now):
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


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
