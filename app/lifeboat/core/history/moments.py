"""What a user means by a moment: `--at "2026-12-01 14:03:22"`, `"15 minutes ago"`, ...

A pure parser (no clock of its own: `now` is given, aware). Understood:
- a date and time in local time: `2026-12-01 14:03:22`, `2026-12-01 14:03`,
  `2026-12-01T14:03:22.5`; a date alone means its midnight;
- ISO 8601 with a zone: `2026-12-01T13:03:22Z`, `2026-12-01 14:03:22+01:00`;
- a time today: `14:03`, `14:03:22`; `today 14:03`, `yesterday 17:00`;
- an age: `15 minutes ago`, `2 hours ago`, `1 day ago`, `90 s ago`, `2h ago`;
- `now`.
Anything else raises MomentError, whose message says what is understood.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo

_AGO_RE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)\s+ago$")
_UNITS = {
    timedelta(seconds=1): ("s", "sec", "secs", "second", "seconds"),
    timedelta(minutes=1): ("m", "min", "mins", "minute", "minutes"),
    timedelta(hours=1): ("h", "hr", "hrs", "hour", "hours"),
    timedelta(days=1): ("d", "day", "days"),
    timedelta(weeks=1): ("w", "week", "weeks"),
}
_UNIT = {word: span for span, words in _UNITS.items() for word in words}
_DAY_RE = re.compile(r"^(?P<day>today|yesterday)(?:\s+(?:at\s+)?(?P<time>\S+))?$")
_TIME_RE = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([ t].*)?$")
EXAMPLES = '"2026-12-01 14:03:22", "2026-12-01T13:03:22Z", "15 minutes ago", "yesterday 17:00"'


class MomentError(ValueError):
    """Not a moment this parser understands; the message says what would be."""


def parse_moment(text: str, now: datetime, local: tzinfo | None = None) -> datetime:
    """The aware moment `text` names. `now` is aware; times without a zone are in
    `local` (default: the system's local zone, as `datetime.astimezone` knows it)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    said = " ".join(str(text).strip().lower().split())
    if not said:
        raise MomentError(f"no time given; write it like {EXAMPLES}")
    if said == "now":
        return now
    ago = _AGO_RE.match(said)
    if ago is not None:
        try:
            return now - _age(ago.group("n"), ago.group("unit"), text)
        except OverflowError:
            raise MomentError(f"{text!r} is too long ago") from None
    day = _DAY_RE.match(said)
    if day is not None:
        date = _local(now, local).date() - timedelta(days=day.group("day") == "yesterday")
        at = _clock_time(day.group("time"), text) if day.group("time") else time(0, 0)
        return _in_zone(datetime.combine(date, at), local)
    if _TIME_RE.match(said):
        return _in_zone(datetime.combine(_local(now, local).date(), _clock_time(said, text)), local)
    if _DATE_RE.match(said):
        return _absolute(str(text).strip(), local)
    raise MomentError(f"{text!r} is not a time Lifeboat understands; write it like {EXAMPLES}")


def _age(number: str, unit: str, text: str) -> timedelta:
    span = _UNIT.get(unit)
    if span is None:
        raise MomentError(
            f"{unit!r} in {text!r} is not a unit; use seconds, minutes, hours, days or weeks"
        )
    return span * float(number)


def _clock_time(said: str, text: str) -> time:
    if not _TIME_RE.match(said):
        raise MomentError(f"{said!r} in {text!r} is not a time of day; write it like 17:00")
    try:
        return time.fromisoformat(said if said.index(":") == 2 else "0" + said)
    except ValueError:
        raise MomentError(f"{said!r} in {text!r} is not a time of day") from None


def _absolute(text: str, local: tzinfo | None) -> datetime:
    iso = text[:-1] + "+00:00" if text[-1:] in "zZ" else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise MomentError(
            f"{text!r} is not a date and time Lifeboat understands; write it like {EXAMPLES}"
        ) from None
    return moment if moment.tzinfo is not None else _in_zone(moment, local)


def _local(now: datetime, local: tzinfo | None) -> datetime:
    return now.astimezone(local) if local is not None else now.astimezone()


def _in_zone(naive: datetime, local: tzinfo | None) -> datetime:
    return naive.replace(tzinfo=local) if local is not None else naive.astimezone()
