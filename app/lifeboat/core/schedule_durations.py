"""Lengths of time as people write them, and back (pure functions, no I/O).

`parse_duration` takes the compact specs the config file has always held ("90s", "15m",
"36h", "2d", "1w") and what a person types in a field: "2 days", "36 hours", "1 week",
"an hour", "1.5 days", "1 day 12 hours", "1 week and 2 days". `duration_words` says a
length in words ("2 days", "36 hours", "1 week"); `format_duration` gives the compact
spec that is saved ("2d").
"""

from __future__ import annotations

import re
from datetime import timedelta

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Each word a unit may be written as, to its letter.
_UNIT_NAMES = {
    "s": ("s", "sec", "secs", "second", "seconds"),
    "m": ("m", "min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
    "w": ("w", "wk", "wks", "week", "weeks"),
}
_UNIT_OF = {name: unit for unit, names in _UNIT_NAMES.items() for name in names}
_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_COMPACT_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_PART_RE = re.compile(r"(?:(\d+(?:\.\d+)?|\.\d+)\s*|(?<![a-z])(an?)\s+)([a-z]+)(?![a-z])")
_JOINERS_RE = re.compile(r"(?:\s|,|\band\b)+")
EXAMPLES = "2 days, 36 hours or 1 week"


def parse_duration(text: str) -> timedelta:
    """'2d', '2 days', '36 hours', '1 week', 'an hour', '1.5 days', '1 day 12 hours'
    -> timedelta; ValueError saying how to write it."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a length of time; write it like {EXAMPLES}")
    cleaned = text.strip().lower()
    seconds = _parse_parts(cleaned)
    if seconds is None:
        if not cleaned:
            raise ValueError(f"write a length of time, like {EXAMPLES}")
        raise ValueError(f"“{text.strip()}” is not a length of time; write it like {EXAMPLES}")
    return timedelta(seconds=seconds)


def _parse_parts(text: str) -> int | None:
    """The seconds `text` says, or None when it is not a length of time."""
    if not text:
        return None
    position, total = 0, 0.0
    for match in _PART_RE.finditer(text):
        if _JOINERS_RE.fullmatch(text[position : match.start()] or " ") is None:
            return None
        number, article, unit = match.groups()
        if unit not in _UNIT_OF:
            return None
        amount = 1.0 if article else float(number)
        total += amount * _SECONDS[_UNIT_OF[unit]]
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    if total != int(total):
        return None  # a fraction of a second
    return int(total)


def is_compact(text: str) -> bool:
    """Whether `text` is already a compact spec ('2d', '36h')."""
    return bool(_COMPACT_RE.match(text.strip().lower()))


def format_duration(span: timedelta) -> str:
    """The compact spec of a length: 2 days -> '2d', 36 hours -> '36h', 14 days -> '2w'."""
    seconds = int(span.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_words(span: timedelta) -> str:
    """A length in words, in the largest unit that says it exactly: '2 days',
    '36 hours', '1 week', '90 minutes' (never '2d')."""
    seconds = int(span.total_seconds())
    for unit in ("w", "d", "h", "m", "s"):
        size = _SECONDS[unit]
        if unit == "s" or (seconds and seconds % size == 0):
            count = seconds // size
            word = _WORDS[unit]
            return f"{count} {word}" if count == 1 else f"{count} {word}s"
    raise AssertionError("unreachable")


def spec_in_words(spec: str) -> str:
    """A saved duration spec in words ('2d' -> '2 days'); the text itself if it is not
    one (a draft may hold anything)."""
    try:
        return duration_words(parse_duration(spec))
    except ValueError:
        return spec
