"""The --at parser: a table of what is understood and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lifeboat.core.history.moments import MomentError, parse_moment

NOW = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
PLUS1 = timezone(timedelta(hours=1))  # local time in these tests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 14:03:22", datetime(2026, 12, 1, 14, 3, 22, tzinfo=PLUS1)),
        ("2026-12-01 14:03", datetime(2026, 12, 1, 14, 3, tzinfo=PLUS1)),
        ("2026-12-01T14:03:22.250", datetime(2026, 12, 1, 14, 3, 22, 250000, tzinfo=PLUS1)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=PLUS1)),
        ("2026-12-01T13:03:22Z", datetime(2026, 12, 1, 13, 3, 22, tzinfo=UTC)),
        ("2026-12-01 14:03:22+01:00", datetime(2026, 12, 1, 13, 3, 22, tzinfo=UTC)),
        ("15 minutes ago", NOW - timedelta(minutes=15)),
        ("2 hours ago", NOW - timedelta(hours=2)),
        ("  2   HOURS   ago ", NOW - timedelta(hours=2)),
        ("1 day ago", NOW - timedelta(days=1)),
        ("90 s ago", NOW - timedelta(seconds=90)),
        ("1.5h ago", NOW - timedelta(hours=1.5)),
        ("1 week ago", NOW - timedelta(weeks=1)),
        ("yesterday 17:00", datetime(2026, 12, 1, 17, 0, tzinfo=PLUS1)),
        ("yesterday at 7:05", datetime(2026, 12, 1, 7, 5, tzinfo=PLUS1)),
        ("yesterday", datetime(2026, 12, 1, tzinfo=PLUS1)),
        ("today 09:30:15", datetime(2026, 12, 2, 9, 30, 15, tzinfo=PLUS1)),
        ("10:45", datetime(2026, 12, 2, 10, 45, tzinfo=PLUS1)),
        ("now", NOW),
    ],
)
def test_understood(text, expected):
    assert parse_moment(text, NOW, PLUS1) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no time given"),
        ("tomorrow", "is not a time Lifeboat understands"),
        ("in 2 hours", "is not a time Lifeboat understands"),
        ("5 parsecs ago", "'parsecs' in '5 parsecs ago' is not a unit"),
        ("2026-13-01 10:00", "is not a date and time"),
        ("2026-12-01 25:00", "is not a date and time"),
        ("yesterday 25:00", "is not a time of day"),
        ("yesterday noon", "is not a time of day"),
        ("99:99", "is not a time of day"),
        ("99999999999 days ago", "too long ago"),
        ("1e400 days ago", "is not a time Lifeboat understands"),
    ],
)
def test_refused_with_one_line_that_says_what_works(text, says):
    with pytest.raises(MomentError) as caught:
        parse_moment(text, NOW, PLUS1)
    message = str(caught.value)
    assert says in message and "\n" not in message


def test_local_time_by_default_is_the_systems():
    local = parse_moment("2026-12-01 14:03:22", NOW)
    assert local == datetime(2026, 12, 1, 14, 3, 22).astimezone()
