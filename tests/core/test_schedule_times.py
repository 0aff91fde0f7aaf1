"""Run times with fixed clocks: month ends, DST changes, catch-up, duplicates, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifeboat.core.schedule import parse_duration, parse_schedule
from lifeboat.core.schedule_times import (
    covered,
    needs_catch_up,
    next_runs,
    previous_run,
    stale_after,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(*args: int, tz=BERLIN) -> datetime:
    return datetime(*args, tzinfo=tz)


def runs(spec: str, now: datetime, count: int = 4, tz=BERLIN) -> list[str]:
    return [
        r.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        for r in next_runs(parse_schedule(spec), tz, now, count)
    ]


def test_monthly_31_is_the_last_day_in_shorter_months():
    assert runs("monthly 31 03:00", local(2026, 1, 31, 12)) == [
        "2026-02-28 03:00 CET",
        "2026-03-31 03:00 CEST",
        "2026-04-30 03:00 CEST",
        "2026-05-31 03:00 CEST",
    ]


def test_monthly_29_in_a_leap_year_and_not():
    assert runs("monthly 29 03:00", local(2028, 2, 1), 2) == [
        "2028-02-29 03:00 CET",
        "2028-03-29 03:00 CEST",
    ]
    assert runs("monthly 29 03:00", local(2027, 2, 1), 2) == [
        "2027-02-28 03:00 CET",
        "2027-03-29 03:00 CEST",
    ]


def test_monthly_30_in_february_and_april():
    assert runs("monthly 30 23:30", local(2026, 2, 27), 3) == [
        "2026-02-28 23:30 CET",
        "2026-03-30 23:30 CEST",
        "2026-04-30 23:30 CEST",
    ]


def test_daily_across_spring_forward_and_fall_back():
    # Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00.
    assert runs("daily 03:00", local(2026, 3, 28, 12), 2) == [
        "2026-03-29 03:00 CEST",
        "2026-03-30 03:00 CEST",
    ]
    assert runs("daily 02:30", local(2026, 10, 24, 12), 2) == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]
    gap = next_runs(parse_schedule("daily 03:00"), BERLIN, local(2026, 3, 28, 12), 2)
    assert gap[1] - gap[0] == timedelta(hours=24)


def test_a_time_that_does_not_exist_still_runs_once_that_day():
    fired = next_runs(parse_schedule("daily 02:30"), BERLIN, local(2026, 3, 28, 12), 2)
    assert fired[0].astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert fired[1].astimezone(BERLIN).day == 30


def test_weekly_several_days_and_new_york_dst():
    assert runs("weekly mon,thu 03:00", local(2026, 11, 24, 12)) == [
        "2026-11-26 03:00 CET",
        "2026-11-30 03:00 CET",
        "2026-12-03 03:00 CET",
        "2026-12-07 03:00 CET",
    ]
    assert runs("weekly sun 01:30", local(2026, 10, 31, tz=NEW_YORK), 2, tz=NEW_YORK) == [
        "2026-11-01 01:30 EDT",
        "2026-11-08 01:30 EST",
    ]


def test_intervals_are_anchored_to_the_clock():
    assert runs("every 6h", local(2026, 5, 1, 7, 13), 3) == [
        "2026-05-01 12:00 CEST",
        "2026-05-01 18:00 CEST",
        "2026-05-02 00:00 CEST",
    ]
    assert runs("every 15m", local(2026, 5, 1, 7, 13), 2) == [
        "2026-05-01 07:15 CEST",
        "2026-05-01 07:30 CEST",
    ]


def test_hourly_and_cron_sunday():
    assert runs("hourly", local(2026, 5, 1, 7, 13), 2) == [
        "2026-05-01 08:00 CEST",
        "2026-05-01 09:00 CEST",
    ]
    assert runs('cron "0 3 * * 0"', local(2026, 11, 24), 2) == [
        "2026-11-29 03:00 CET",
        "2026-12-06 03:00 CET",
    ]


def test_manual_never_runs():
    assert runs("manual", local(2026, 1, 1)) == []
    assert previous_run(parse_schedule("manual"), BERLIN, local(2026, 1, 1)) is None


def test_previous_run():
    daily = parse_schedule("daily 03:00")
    assert previous_run(daily, BERLIN, local(2026, 3, 10, 2, 59)) == local(2026, 3, 9, 3, 0)
    assert previous_run(daily, BERLIN, local(2026, 3, 10, 3, 0)) == local(2026, 3, 10, 3, 0)
    monthly = parse_schedule("monthly 31 03:00")
    assert previous_run(monthly, BERLIN, local(2026, 3, 15)) == local(2026, 2, 28, 3, 0)


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, local(2026, 3, 10, 12), True),  # never backed up
        (local(2026, 3, 8, 3, 5), local(2026, 3, 10, 12), True),  # two days old
        (local(2026, 3, 10, 3, 1), local(2026, 3, 10, 12), False),  # after today's 03:00
        (local(2026, 3, 9, 23, 0), local(2026, 3, 10, 2, 0), False),  # 03:00 not yet due
    ],
)
def test_catch_up_once_per_missed_time(last, now, due):
    assert needs_catch_up(parse_schedule("daily 03:00"), BERLIN, last, now) is due


def test_covered_means_within_half_a_period():
    daily = parse_schedule("daily 03:00")
    fire = local(2026, 3, 10, 3, 0)
    assert covered(daily, fire - timedelta(hours=1), fire)
    assert not covered(daily, fire - timedelta(hours=13), fire)
    assert not covered(daily, None, fire)
    assert not covered(parse_schedule("every 10m"), fire - timedelta(minutes=6), fire)


def test_stale_after_defaults():
    assert stale_after(parse_schedule("every 15m")) == timedelta(minutes=30)
    assert stale_after(parse_schedule("hourly")) == timedelta(hours=2)
    assert stale_after(parse_schedule("daily 03:00")) == timedelta(days=2)
    assert stale_after(parse_schedule("every 12h")) == timedelta(days=1)
    assert stale_after(parse_schedule("manual")) is None
    assert stale_after(parse_schedule("daily 03:00"), parse_duration("3d")) == timedelta(days=3)


@pytest.mark.parametrize(
    "spec", ["every 15m", "hourly", "every 10s", "daily 02:30", 'cron "30 2 * * *"', "every 7m"]
)
def test_fire_times_always_move_forward_across_fall_back(spec: str):
    # APScheduler 3 alone answers the same 02:30 again on this night and its scheduler
    # then loops forever; our triggers must always move on.
    trigger_runs = next_runs(parse_schedule(spec), BERLIN, local(2026, 10, 25, 1, 50), 400)
    utc = [r.astimezone(UTC) for r in trigger_runs]
    assert utc == sorted(set(utc)), "fire times must strictly increase"
    walls = [r.astimezone(BERLIN).strftime("%d %H:%M:%S") for r in trigger_runs]
    if spec in ("daily 02:30", 'cron "30 2 * * *"'):
        assert walls[:2] == ["25 02:30:00", "26 02:30:00"]
    if spec == "every 15m":
        assert walls.count("25 02:15:00") == 2, "both 02:15s of the long night run"
