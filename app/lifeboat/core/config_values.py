"""Validators for config values: each returns the clean value or raises ValueError with
a reason the user can act on (the loader adds the file, line and key)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifeboat.core.history.windows import WindowSpecError, parse_windows
from lifeboat.core.manifest import SOURCE_NAME_RE
from lifeboat.core.retention import KeepSpecError, parse_keep
from lifeboat.core.schedule import ScheduleError, parse_schedule
from lifeboat.core.schedule_durations import format_duration, is_compact, parse_duration
from lifeboat.foundation.units import parse_rate, parse_size

#: How a snapshot's database is checked (core/dbcheck.py): defined here, with the config
#: values it is one of, so that reading the config does not load the checker.
CHECK_MODES = ("quick", "full")


def path_value(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path in quotes")
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{value!r} must be an absolute path")
    return path


def schedule_value(value: Any) -> str:
    try:
        return parse_schedule(value).spec
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


def keep_value(value: Any) -> str:
    try:
        return parse_keep(value).spec
    except KeepSpecError as exc:
        raise ValueError(str(exc)) from None


def windows_value(value: Any) -> str:
    """A continuous history's window policy ("24h all, 7d hourly, 30d daily")."""
    try:
        return parse_windows(value).spec
    except WindowSpecError as exc:
        raise ValueError(str(exc)) from None


def duration_value(value: Any) -> str:
    """A length of time, saved as its compact spec: '2d' as written, '2 days' as '2d'."""
    span = parse_duration(value)
    text = str(value).strip().lower()
    return text if is_compact(text) else format_duration(span)


def every_value(value: Any) -> str:
    """How often a rollback-journal database changing is captured: 1 s to 1 day."""
    spec = duration_value(value)
    seconds = parse_duration(spec).total_seconds()
    if not 1 <= seconds <= 86400:
        raise ValueError(f"{value!r} must be from 1 second to 1 day, e.g. '1m' or '30s'")
    return spec


def durations_value(value: Any) -> str:
    """A comma-separated list of durations, e.g. '1m,5m,25m' ('' for none)."""
    if not isinstance(value, str):
        raise ValueError("must be text like '1m,5m,25m'")
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        parse_duration(part)
    return ",".join(parts)


def timezone_value(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be 'local' or a time zone name like 'Europe/Berlin'")
    if value != "local":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use a name like 'Europe/Berlin' or 'local'"
            ) from None
    return value


def url_value(value: Any) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ValueError("must be an http(s) URL in quotes")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    return value


def command_value(value: Any) -> str | list[str]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("must be a command line in quotes, or a list of its words")


def text_value(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value):
        raise ValueError("must be non-empty text in quotes")
    return value.strip()


def display_name_value(value: Any) -> str:
    """A name shown to people: any printable text up to 100 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be printable text on one line")
    if len(value.strip()) > 100:
        raise ValueError("is too long (100 characters at most)")
    return value.strip()


def bucket_value(value: Any) -> str:
    name = text_value(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}", name):
        raise ValueError(f"{name!r} is not a bucket name")
    return name


def provider_value(value: Any) -> str:
    from lifeboat.core.providers import provider

    provider(str(value))
    return str(value)


def prefix_value(value: Any) -> str:
    from lifeboat.core.remote_keys import clean_prefix

    if not isinstance(value, str):
        raise ValueError("must be text in quotes, e.g. 'lifeboat'")
    return clean_prefix(value)


def size_value(value: Any) -> str:
    parse_size(value)
    return str(value)


def rate_value(value: Any) -> str:
    parse_rate(value)
    return str(value)


def bool_value(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)} (got {value!r})")
        return str(value)

    return check


def int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def number_range(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return check


def source_name(value: Any) -> str:
    if not isinstance(value, str) or not SOURCE_NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a usable name: use 1-64 letters, digits, '-' or "
            "'_', starting with a letter or digit"
        )
    return value


def recipients_value(value: Any) -> list[str]:
    from lifeboat.core.encryption import check_recipient

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of age recipients, e.g. ["age1…"]')
    return [check_recipient(v) for v in value]
