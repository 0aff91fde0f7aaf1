"""The next run by plain arithmetic (core/schedule_next.py) against APScheduler's triggers:
wherever the arithmetic answers, it answers what the triggers do, across zones, DST
nights, month ends and leap days; where it cannot be exact it says so (None)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifeboat.core.schedule import parse_schedule
from lifeboat.core.schedule_next import quick_next_run
from lifeboat.core.schedule_times import next_runs

ANSWERED_SPECS = [
    "hourly",
    "daily 03:00",
    "daily 02:30",
    "daily 00:00",
    "daily 23:59",
    "weekly mon,thu 03:00",
    "weekly sun 01:30",
    "monthly 31 03:00",
    "monthly 29 02:30",
    "monthly 1 00:00",
    "every 15m",
    "every 10s",
    "every 2h",
    "every 6h",
    "every 24h",
    "every 1d",
]
#: Zones with an hour's DST change on different dates, a half hour's (Lord Howe), a
#: southern summer, a half-hour offset without DST, and DST paused for a month (Morocco).
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Africa/Casablanca",
]


def _moments(tz: ZoneInfo) -> list[datetime]:
    """A year at an odd stride, plus every 47 minutes around each change of the clocks."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(hours=37 * k, minutes=13 * k) for k in range(220)]
    probe, end = start, start + timedelta(days=366)
    offset = probe.astimezone(tz).utcoffset()
    while probe < end:
        probe += timedelta(hours=1)
        if probe.astimezone(tz).utcoffset() != offset:
            offset = probe.astimezone(tz).utcoffset()
            moments += [probe + timedelta(minutes=47 * k) for k in range(-40, 40)]
    return moments


def _by_trigger(spec: str, tz: ZoneInfo, now: datetime) -> datetime:
    # Two runs asked: next_runs answers a single one the quick way, two by the trigger.
    return next_runs(parse_schedule(spec), tz, now, 2)[0]


@pytest.mark.parametrize("zone", ZONES)
def test_the_quick_answer_is_the_triggers_answer(zone: str):
    tz = ZoneInfo(zone)
    answered = asked = 0
    for now in _moments(tz):
        for spec in ANSWERED_SPECS:
            quick = quick_next_run(parse_schedule(spec), tz, now)
            asked += 1
            if quick is None:
                continue
            answered += 1
            expected = _by_trigger(spec, tz, now)
            assert quick == expected, (spec, now.isoformat())
            assert quick.utcoffset() == expected.utcoffset(), (spec, now.isoformat())
            assert quick > now
    # Only a change of the clocks within the span makes it step aside: most are answered.
    assert answered > 0.75 * asked


def test_steady_zones_are_always_answered():
    for zone in ("UTC", "Asia/Kolkata"):
        tz = ZoneInfo(zone)
        for now in _moments(tz)[:60]:
            for spec in ANSWERED_SPECS:
                assert quick_next_run(parse_schedule(spec), tz, now) is not None


@pytest.mark.parametrize(
    ("spec", "now", "why"),
    [
        ('cron "0 3 * * 0"', datetime(2026, 5, 1, 12), "cron lines"),
        ("every 7m", datetime(2026, 5, 1, 12), "anchored intervals"),
        ("every 5h", datetime(2026, 5, 1, 12), "anchored intervals"),
        ("manual", datetime(2026, 5, 1, 12), "no run at all"),
        ("daily 03:00", datetime(2026, 3, 28, 12), "the clocks go forward first"),
        ("daily 02:30", datetime(2026, 3, 28, 12), "a time that does not exist"),
        ("daily 02:30", datetime(2026, 10, 25, 2, 40), "the second pass of a doubled hour"),
        ("monthly 1 03:00", datetime(2026, 3, 15, 12), "a change within the month"),
    ],
)
def test_left_to_the_triggers(spec: str, now: datetime, why: str):
    berlin = ZoneInfo("Europe/Berlin")
    assert quick_next_run(parse_schedule(spec), berlin, now.replace(tzinfo=berlin)) is None, why


def test_next_runs_answers_one_run_the_quick_way_and_the_same():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 5, 1, 7, 13, 20, 500, tzinfo=berlin)
    for spec in ANSWERED_SPECS:
        one = next_runs(parse_schedule(spec), berlin, now, 1)
        assert one == [quick_next_run(parse_schedule(spec), berlin, now)]
        assert one == next_runs(parse_schedule(spec), berlin, now, 3)[:1]


def test_every_day_runs_at_midnight():
    # APScheduler refuses the hour step "*/24": `every 1d` failed before it had a trigger
    utc = ZoneInfo("UTC")
    runs = next_runs(parse_schedule("every 1d"), utc, datetime(2026, 5, 1, 7, tzinfo=utc), 2)
    assert runs == [datetime(2026, 5, 2, tzinfo=utc), datetime(2026, 5, 3, tzinfo=utc)]
