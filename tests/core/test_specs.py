"""Schedule and keep specs: valid forms parse, invalid ones say why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat.core.retention import KeepSpecError, parse_keep
from lifeboat.core.schedule import ScheduleError, parse_schedule


@pytest.mark.parametrize(
    ("spec", "kind", "description"),
    [
        ("manual", "manual", "only when started by hand"),
        ("every 30s", "interval", "every 30 seconds"),
        ("every 10s", "interval", "every 10 seconds"),
        ("every 15m", "interval", "every 15 minutes"),
        ("every 6h", "interval", "every 6 hours"),
        ("every 1h", "interval", "every hour"),
        ("hourly", "hourly", "every hour, on the hour"),
        ("daily 03:00", "daily", "every day at 03:00"),
        ("  Daily   23:59 ", "daily", "every day at 23:59"),
        ("weekly mon 03:00", "weekly", "every Monday at 03:00"),
        ("weekly mon,thu 03:00", "weekly", "every Monday and Thursday at 03:00"),
        ("monthly 1 03:00", "monthly", "on day 1 of every month at 03:00"),
        (
            "monthly 31 04:30",
            "monthly",
            "on day 31 of every month at 04:30 (the last day in shorter months)",
        ),
        ('cron "0 3 * * *"', "cron", "every day at 03:00 (cron 0 3 * * *)"),
    ],
)
def test_valid_schedules(spec: str, kind: str, description: str):
    schedule = parse_schedule(spec)
    assert schedule.kind == kind
    assert schedule.describe() == description


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "empty"),
        ("dayly 03:00", "unknown schedule"),
        ("every 5s", "shortest interval is 10s"),
        ("every", "interval like"),
        ("every 10x", "interval like"),
        ("every -5m", "interval like"),
        ("daily", "HH:MM"),
        ("daily 24:00", "HH:MM"),
        ("daily 3pm", "HH:MM"),
        ("daily 03:60", "HH:MM"),
        ("weekly 03:00", "weekly mon 03:00"),
        ("weekly funday 03:00", "unknown day"),
        ("weekly mon,mon 03:00", "twice"),
        ("monthly 0 03:00", "1-31"),
        ("monthly 32 03:00", "1-31"),
        ("monthly first 03:00", "monthly 1 03:00"),
        ('cron "0 3 * *"', "five fields"),
        ('cron "0 25 * * *"', "maximum"),
        ("hourly 5", "unknown schedule"),
        ("manual please", "unknown schedule"),
        ("every 400d", "longest"),
    ],
)
def test_invalid_schedules(spec: str, words: str):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(spec)
    assert words in str(err.value)


def test_a_schedule_read_again_is_the_same_and_a_bad_one_is_refused_each_time():
    """Each text is parsed once per process (core/schedule._parse_text): what comes back
    the second time is what the first parse gave, and an error is not remembered away."""
    first = parse_schedule('cron "0 3 29 2 *"')
    assert parse_schedule('cron "0 3 29 2 *"') == first
    assert first.period_seconds == parse_schedule('cron "0 3 29 2 *"').period_seconds
    assert first.period_seconds >= 4 * 365 * 86400 - 86400  # leap days only
    for _ in range(2):
        with pytest.raises(ScheduleError, match="never fires"):
            parse_schedule('cron "0 3 31 2 *"')


def test_keep_specs():
    policy = parse_keep("last=7, daily=7,weekly=4,monthly=12,yearly=2,within=30d")
    assert (policy.last, policy.daily, policy.weekly, policy.monthly, policy.yearly) == (
        7,
        7,
        4,
        12,
        2,
    )
    assert policy.within == timedelta(days=30)
    assert parse_keep(policy.spec) == policy
    assert parse_keep("hourly=24").hourly == 24
    assert parse_keep("last=0").last == 0


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "empty"),
        ("last", "key=value"),
        ("last=x", "whole number"),
        ("last=-1", "whole number"),
        ("biweekly=2", "unknown key"),
        ("last=1,last=2", "twice"),
        ("within=30", "duration"),
        ("within=0d", "duration"),
    ],
)
def test_invalid_keep_specs(spec: str, words: str):
    with pytest.raises(KeepSpecError) as err:
        parse_keep(spec)
    assert words in str(err.value)
