"""Sizes and rates as people write them and read them: '16MB', '512KiB', '2MB/s', '10Mbit/s'."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b|[kmgt]?bit|[kmgt]?)\s*$", re.I)
_FACTORS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """Bytes in '16MB', '512KiB', '1.5GB', '800kbit' (decimal units; KiB etc. binary)."""
    match = _SIZE_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a size; write it like 512KB, 16MB or 1GiB")
    number, unit = float(match.group(1)), match.group(2).lower()
    prefix = unit[:1] if unit[:1] in "kmgt" else ""
    value = number * (
        1024 ** ("kmgt".index(prefix) + 1) if "ib" in unit and prefix else _FACTORS[prefix]
    )
    if unit.endswith("bit"):
        value /= 8
    return int(value)


def parse_rate(text: str) -> int:
    """Bytes per second in '2MB/s', '500KB/s', '10Mbit/s' (the '/s' may be left out)."""
    if not isinstance(text, str):
        raise ValueError("a rate must be text like 2MB/s")
    body = text.strip()
    if body.lower().endswith("/s"):
        body = body[:-2]
    try:
        rate = parse_size(body)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate; write it like 2MB/s or 10Mbit/s") from None
    if rate < 1024:
        raise ValueError(f"{text!r} is too slow to be useful; the least is 1KB/s")
    return rate


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
