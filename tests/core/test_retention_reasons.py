"""The retention preview's reasons in words, from the real retention decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifeboat.core.retention import SnapshotInfo, apply_policy, parse_keep
from lifeboat.core.retention_reasons import explain_plan, reason_in_words, why_in_words

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def snap(i: int, when: str, **flags: object) -> SnapshotInfo:
    return SnapshotInfo(id=f"s{i}", created_at=datetime.fromisoformat(when), size=100, **flags)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("last 1", "the newest"),
        ("last 10", "one of the 10 newest"),
        ("daily 3/7", "the last of its day"),
        ("weekly 1/4", "the last of its week"),
        ("monthly 2/12", "the last of its month"),
        ("hourly 1/24", "the last of its hour"),
        ("yearly 1/2", "the last of its year"),
        ("within 30d", "taken in the last 30 days"),
        ("within 1w", "taken in the last week"),
        ("within 6m", "taken in the last 6 months"),
        ("within 48h", "taken in the last 48 hours"),
        ("protected", "pinned by you"),
        ("only remaining snapshot", "kept so that at least one snapshot remains"),
        (
            "base of 1 kept snapshot",
            "needed by a kept snapshot that holds only changes since it",
        ),
        (
            "base of 3 kept snapshots",
            "needed by 3 kept snapshots that hold only changes since it",
        ),
        ("damaged: kept until you delete it", "damaged: kept until you delete it"),
        (
            "its base 20260301-0300-full is damaged: kept until you delete it",
            "the snapshot it builds on is damaged: kept until you delete it",
        ),
        ("something new", "something new"),
    ],
)
def test_each_reason_in_words(reason: str, words: str):
    assert reason_in_words(reason) == words


def test_a_safety_copy_is_not_called_pinned():
    assert reason_in_words("protected", raw=True) == "a safety copy made before a restore"


def test_periods_are_said_together():
    reasons = ("last 10", "daily 1/7", "weekly 1/4", "monthly 1/12")
    assert why_in_words(reasons) == "one of the 10 newest; the last of its day, week and month"


def test_a_plan_explains_every_kept_snapshot_and_what_is_removed():
    snapshots = [
        snap(1, "2026-03-01T03:00:00+00:00"),  # a full one, the base of s3
        snap(2, "2026-03-02T03:00:00+00:00"),
        snap(3, "2026-03-09T03:00:00+00:00", kind="diff", base="s1"),
        snap(4, "2026-03-09T05:00:00+00:00"),
        snap(5, "2026-02-01T03:00:00+00:00", protected=True),
    ]
    lines = explain_plan(apply_policy(snapshots, parse_keep("last=1,daily=2"), NOW, tz=UTC))
    why = {line.id: (line.keep, line.why) for line in lines}
    assert why == {
        "s4": (True, "the newest; the last of its day"),
        "s3": (False, "no rule keeps it"),
        "s2": (True, "the last of its day"),
        "s1": (False, "no rule keeps it"),
        "s5": (True, "pinned by you"),
    }
    assert [line.id for line in lines] == ["s4", "s3", "s2", "s1", "s5"]  # newest first


def test_a_base_is_kept_for_the_differential_that_needs_it():
    snapshots = [
        snap(1, "2026-03-01T03:00:00+00:00"),
        snap(2, "2026-03-09T03:00:00+00:00", kind="diff", base="s1"),
    ]
    lines = explain_plan(apply_policy(snapshots, parse_keep("last=1"), NOW, tz=UTC))
    why = {line.id: line.why for line in lines}
    assert why["s2"] == "the newest"
    assert why["s1"] == "needed by a kept snapshot that holds only changes since it"
    assert all(line.keep for line in lines)


@pytest.mark.parametrize(
    ("typed", "spec", "words"),
    [
        ("30 days", "30d", "30 days"),
        ("30d", "30d", "30 days"),
        ("1 year", "1y", "1 year"),
        ("6 Months", "6m", "6 months"),
        ("8 weeks", "8w", "8 weeks"),
        ("48 hours", "48h", "48 hours"),
        ("forever", "forever", "forever"),
    ],
)
def test_everything_from_the_last_span_typed_in_words(typed: str, spec: str, words: str):
    from lifeboat.core.retention_reasons import span_spec, span_words

    assert span_spec(typed) == spec
    assert span_words(spec) == words
