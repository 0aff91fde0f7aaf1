"""Retention policies: parse keep specs (pure functions, no I/O).

Spec: `last=N, hourly=N, daily=N, weekly=N, monthly=N, yearly=N, within=DURATION`
(e.g. `last=7,daily=7,weekly=4,monthly=12,yearly=2`, `within=30d`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import timedelta

DEFAULT_KEEP = "last=10,daily=7,weekly=4,monthly=12"
BUCKETS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_DURATION_RE = re.compile(r"^(\d+)([hdwmy])$")
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
                   "m": timedelta(days=30), "y": timedelta(days=365)}
_MAX_COUNT = 100_000


class KeepSpecError(ValueError):
    """A keep spec that cannot be understood; the message says why."""


@dataclass(frozen=True)
class RetentionPolicy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    within_text: str = ""

    @property
    def spec(self) -> str:
        parts = [f"{name}={getattr(self, name)}" for name in BUCKETS if getattr(self, name)]
        if self.within is not None:
            parts.append(f"within={self.within_text}")
        return ",".join(parts) or "last=0"

    def describe(self) -> str:
        words = {"last": "the last {}", "hourly": "{} hourly", "daily": "{} daily",
                 "weekly": "{} weekly", "monthly": "{} monthly", "yearly": "{} yearly"}
        parts = [words[name].format(getattr(self, name)) for name in BUCKETS
                 if getattr(self, name)]
        if self.within is not None:
            parts.append(f"all from the last {self.within_text}")
        return "keep " + (", ".join(parts) if parts else "only the newest") + \
            "; protected snapshots are always kept"


def parse_keep(spec: str) -> RetentionPolicy:
    """Parse a keep spec; raise KeepSpecError with a clear reason."""
    if not isinstance(spec, str) or not spec.strip():
        raise KeepSpecError("empty keep spec; write it like 'last=7,daily=7,weekly=4'")
    values: dict[str, object] = {}
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.lower()
        if not sep:
            raise KeepSpecError(f"{part!r} in keep spec: write it as key=value, e.g. daily=7")
        if key in values:
            raise KeepSpecError(f"{key} appears twice in keep spec {spec!r}")
        if key == "within":
            match = _DURATION_RE.match(value.lower())
            if not match or int(match.group(1)) == 0:
                raise KeepSpecError(f"within={value!r}: write a duration like 48h, 30d, 8w, "
                                    "6m or 1y")
            values["within"] = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
            values["within_text"] = value.lower()
        elif key in BUCKETS:
            if not value.isdigit() or int(value) > _MAX_COUNT:
                raise KeepSpecError(f"{key}={value!r}: the count must be a whole number "
                                    f"from 0 to {_MAX_COUNT}")
            values[key] = int(value)
        else:
            names = ", ".join((*BUCKETS, "within"))
            raise KeepSpecError(f"unknown key {key!r} in keep spec; use {names}")
    known = {f.name for f in fields(RetentionPolicy)}
    return RetentionPolicy(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
