"""Lengths of time as people type them (the overdue alarm), said back in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat.core.config_values import duration_value
from lifeboat.core.schedule_durations import (
    duration_words,
    format_duration,
    parse_duration,
    spec_in_words,
)

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("typed", "span"),
    [
        ("2d", 2 * DAY),
        ("2D", 2 * DAY),
        (" 36h ", 36 * HOUR),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1w", 7 * DAY),
        ("2 days", 2 * DAY),
        ("2 Days", 2 * DAY),
        ("1 day", DAY),
        ("36 hours", 36 * HOUR),
        ("36 hrs", 36 * HOUR),
        ("1 week", 7 * DAY),
        ("2 weeks", 14 * DAY),
        ("90 minutes", timedelta(minutes=90)),
        ("90 min", timedelta(minutes=90)),
        ("an hour", HOUR),
        ("a day", DAY),
        ("a week", 7 * DAY),
        ("1.5 days", 36 * HOUR),
        ("1 day 12 hours", 36 * HOUR),
        ("1 day, 12 hours", 36 * HOUR),
        ("1 week and 2 days", 9 * DAY),
        ("2d12h", 60 * HOUR),
        ("2days", 2 * DAY),
    ],
)
def test_typed_lengths_of_time(typed: str, span: timedelta):
    assert parse_duration(typed) == span


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "2", "days", "2 dayz", "2 months", "days 2", "-2 days", "1 and", "2 days and",
     "and", "0.3s", "two days", "2 days ago"],
)  # fmt: skip
def test_what_is_not_a_length_of_time_says_how_to_write_one(typed: str):
    with pytest.raises(ValueError) as caught:
        parse_duration(typed)
    message = str(caught.value)
    assert "2 days, 36 hours or 1 week" in message
    assert "2d" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("span", "words", "compact"),
    [
        (2 * DAY, "2 days", "2d"),
        (DAY, "1 day", "1d"),
        (36 * HOUR, "36 hours", "36h"),
        (HOUR, "1 hour", "1h"),
        (7 * DAY, "1 week", "1w"),
        (14 * DAY, "2 weeks", "2w"),
        (9 * DAY, "9 days", "9d"),
        (timedelta(minutes=90), "90 minutes", "90m"),
        (timedelta(minutes=1), "1 minute", "1m"),
        (timedelta(seconds=45), "45 seconds", "45s"),
        (timedelta(0), "0 seconds", "0s"),
    ],
)
def test_lengths_said_in_words_and_saved_compact(span: timedelta, words: str, compact: str):
    assert duration_words(span) == words
    assert format_duration(span) == compact
    assert parse_duration(words) == span == parse_duration(compact)


@pytest.mark.parametrize(
    ("spec", "words"), [("2d", "2 days"), ("36h", "36 hours"), ("1w", "1 week"), ("?", "?")]
)
def test_saved_specs_in_words(spec: str, words: str):
    assert spec_in_words(spec) == words


@pytest.mark.parametrize(
    ("typed", "saved"),
    [("2d", "2d"), ("36H", "36h"), ("14d", "14d"), ("2 days", "2d"), ("1 week", "1w"),
     ("36 hours", "36h"), ("1.5 days", "36h")],
)  # fmt: skip
def test_the_config_saves_typed_lengths_as_compact_specs(typed: str, saved: str):
    assert duration_value(typed) == saved
