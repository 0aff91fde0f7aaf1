"""Why retention keeps or removes each snapshot, in words a person reads (pure, no I/O).

`apply_policy` (core/retention.py) gives each decision its reasons as short tags ("last
10", "daily 3/7", "within 30d", "protected", "base of 2 kept snapshots"); the Settings
preview says them as sentences: "the newest", "the last of its day, week and month",
"pinned by you", "needed by 2 kept snapshots that hold only changes since it".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lifeboat.core.retention import Decision

_PERIODS = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
}
_SPAN_UNITS = {"h": "hour", "d": "day", "w": "week", "m": "month", "y": "year"}
_LAST_RE = re.compile(r"^last (\d+)$")
_BUCKET_RE = re.compile(r"^(hourly|daily|weekly|monthly|yearly) \d+/\d+$")
_WITHIN_RE = re.compile(r"^within (\d+)([hdwmy])$")
_BASE_OF_RE = re.compile(r"^base of (\d+) kept snapshots?$")
_BROKEN_BASE_RE = re.compile(r"^its base \S+ is (.+): kept until you delete it$")
_UNUSABLE_RE = re.compile(r"^(.+): kept until you delete it$")


@dataclass(frozen=True)
class PlanLine:
    """One snapshot in the preview: when, how big, kept or removed, and why."""

    id: str
    created_at: datetime
    size: int
    keep: bool
    why: str


def explain_plan(decisions: Sequence[Decision]) -> list[PlanLine]:
    """Each decision as a line of the preview, newest first (as decided)."""
    return [
        PlanLine(
            d.snapshot.id,
            d.snapshot.created_at,
            d.snapshot.size,
            d.keep,
            why_in_words(d.reasons, raw=d.snapshot.kind == "raw") if d.keep else "no rule keeps it",
        )
        for d in decisions
    ]


def why_in_words(reasons: Sequence[str], *, raw: bool = False) -> str:
    """A kept snapshot's reasons as one sentence part: the periods it is the last of
    said together ('the last of its day, week and month')."""
    periods = [_PERIODS[m.group(1)] for r in reasons if (m := _BUCKET_RE.match(r))]
    words: list[str] = []
    for reason in reasons:
        if _BUCKET_RE.match(reason):
            if periods:
                words.append("the last of its " + _joined(periods))
                periods = []
            continue
        words.append(reason_in_words(reason, raw=raw))
    return "; ".join(words)


def reason_in_words(reason: str, *, raw: bool = False) -> str:
    """One reason tag in words (a tag not known here is shown as it is)."""
    if reason == "protected":
        return "a safety copy made before a restore" if raw else "pinned by you"
    if reason == "only remaining snapshot":
        return "kept so that at least one snapshot remains"
    if match := _LAST_RE.match(reason):
        count = int(match.group(1))
        return "the newest" if count == 1 else f"one of the {count} newest"
    if match := _BUCKET_RE.match(reason):
        return "the last of its " + _PERIODS[match.group(1)]
    if match := _WITHIN_RE.match(reason):
        count, unit = int(match.group(1)), _SPAN_UNITS[match.group(2)]
        return f"taken in the last {unit}" if count == 1 else f"taken in the last {count} {unit}s"
    if match := _BASE_OF_RE.match(reason):
        count = int(match.group(1))
        if count == 1:
            return "needed by a kept snapshot that holds only changes since it"
        return f"needed by {count} kept snapshots that hold only changes since it"
    if match := _BROKEN_BASE_RE.match(reason):
        return f"the snapshot it builds on is {match.group(1)}: kept until you delete it"
    if match := _UNUSABLE_RE.match(reason):
        return f"{match.group(1)}: kept until you delete it"
    return reason


_SPAN_RE = re.compile(r"^(\d+)\s*([a-z]+)$")
_SPAN_LETTER = {
    **{word: letter for letter, unit in _SPAN_UNITS.items() for word in (unit, unit + "s")},
    **{letter: letter for letter in _SPAN_UNITS},
}


def span_spec(text: str) -> str:
    """'Everything from the last …' as typed ('30 days', '6 months', '30d') to the keep
    spec's form ('30d', '6m'); text that is not a span stays as typed (its problem shows)."""
    match = _SPAN_RE.match(text.strip().lower())
    if match is None or match.group(2) not in _SPAN_LETTER:
        return text.strip()
    return f"{int(match.group(1))}{_SPAN_LETTER[match.group(2)]}"


def span_words(spec: str) -> str:
    """A keep spec's span in words: '30d' -> '30 days', '1y' -> '1 year'."""
    match = _SPAN_RE.match(spec.strip().lower())
    if match is None or match.group(2) not in _SPAN_UNITS:
        return spec
    count, unit = int(match.group(1)), _SPAN_UNITS[match.group(2)]
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _joined(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
