"""How much of a chain's history stays restorable: window policies (pure functions).

A policy is a list of rules, youngest first: `"24h all, 7d hourly, 30d daily"` keeps
every commit of the last 24 hours, one per hour (the last of each) up to 7 days back,
one per day up to 30 days back. History older than the last rule is merged into one
point (its pages are still needed by every later point of the chain; the chain goes as
a whole when retention drops its base).

Why that default: mistakes are noticed within minutes or hours (a deleted note, a bad
import), so the last day keeps every commit; a week of hourly points covers "it was
fine on Tuesday afternoon"; beyond that the daily snapshots' own retention takes over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_WINDOWS = "24h all, 7d hourly, 30d daily"
_UNITS = {
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "m": timedelta(days=30),
    "y": timedelta(days=365),
}
_EVERY = {
    "all": None,
    "minutely": timedelta(minutes=1),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
}
_RULE_RE = re.compile(r"^(?P<n>\d+)\s*(?P<unit>min|h|d|w|m|y)\s+(?P<every>[a-z]+)$")
_MAX_SPAN = timedelta(days=3650)


class WindowSpecError(ValueError):
    """A window spec that cannot be understood; the message says why."""


@dataclass(frozen=True)
class WindowRule:
    within: timedelta  # applies to commits at most this old
    every: timedelta | None  # one commit per window of this length; None: all commits


@dataclass(frozen=True)
class WindowPolicy:
    rules: tuple[WindowRule, ...]
    spec: str


def parse_windows(spec: str) -> WindowPolicy:
    """Parse `"24h all, 7d hourly, 30d daily"`-style specs; raise WindowSpecError."""
    if not isinstance(spec, str) or not spec.strip():
        raise WindowSpecError(f"empty history spec; write it like {DEFAULT_WINDOWS!r}")
    rules: list[WindowRule] = []
    for part in spec.split(","):
        text = " ".join(part.lower().split())
        if not text:
            continue
        match = _RULE_RE.match(text)
        if match is None:
            raise WindowSpecError(
                f"{part.strip()!r} in history spec: write an age and what to keep, e.g. "
                "'24h all' or '7d hourly' (ages in min, h, d, w, m or y; keep all, "
                "minutely, hourly, daily, weekly or monthly)"
            )
        amount = int(match.group("n"))
        within = amount * _UNITS[match.group("unit")]
        if amount == 0 or within > _MAX_SPAN:
            raise WindowSpecError(f"{part.strip()!r}: the age must be from 1 to 10 years")
        every_word = match.group("every")
        if every_word not in _EVERY:
            raise WindowSpecError(
                f"{every_word!r} in history spec: keep all, minutely, hourly, daily, "
                "weekly or monthly"
            )
        rule = WindowRule(within, _EVERY[every_word])
        if rules and rule.within <= rules[-1].within:
            raise WindowSpecError(f"{part.strip()!r}: list the ages from youngest to oldest")
        if rules and _coarseness(rule) < _coarseness(rules[-1]):
            raise WindowSpecError(
                f"{part.strip()!r}: older history cannot keep more points than younger"
            )
        rules.append(rule)
    if not rules:
        raise WindowSpecError(f"empty history spec; write it like {DEFAULT_WINDOWS!r}")
    return WindowPolicy(tuple(rules), ", ".join(p.strip() for p in spec.split(",") if p.strip()))


def _coarseness(rule: WindowRule) -> timedelta:
    return rule.every or timedelta(0)


def window_key(policy: WindowPolicy, seq: int, time_us: int, now_us: int) -> tuple[int, int]:
    """Commits with equal keys fall in one window (they are merged when thinned)."""
    age = timedelta(microseconds=max(0, now_us - time_us))
    for number, rule in enumerate(policy.rules):
        if age <= rule.within:
            if rule.every is None:
                return (number, -seq)  # every commit is its own window
            span = int(rule.every.total_seconds() * 1_000_000)
            return (number, time_us // span)
    return (len(policy.rules), 0)  # older than every rule: one window


def restorable_since(policy: WindowPolicy, now_us: int) -> int:
    """The oldest moment the policy promises points for: the age of its last rule.
    (Older history is merged into one point that later points build on.)"""
    return now_us - int(policy.rules[-1].within.total_seconds() * 1_000_000)


@dataclass(frozen=True)
class ChainSpan:
    """A chain of history as retention sees it: its base and its newest commit."""

    base_id: str
    last_us: int | None


def bases_needed(chains: list[ChainSpan], since_us: int) -> dict[str, str]:
    """The base snapshots the history still needs, each with why (a retention reason).

    The newest chain is being captured: its base is needed whatever its age. An older
    chain is needed while it holds commits the policy still promises (after
    `since_us`); once all its commits are older, its base may go, and the chain with it.
    """
    if not chains:
        return {}
    newest = max(chains, key=lambda c: c.last_us or 0)
    needed = {newest.base_id: "base of the continuous history being captured"}
    for chain in chains:
        if chain.base_id not in needed and chain.last_us is not None and chain.last_us >= since_us:
            needed[chain.base_id] = "base of continuous history still kept"
    return needed


def kept_by_windows(moments: list[tuple[str, int]], policy: WindowPolicy, now_us: int) -> set[str]:
    """Of snapshots taken for continuous protection (id, time: a rollback-journal
    database's differentials), those the policy keeps as moments: the last of each
    window. Older than every rule: none (the source's `keep` decides about those)."""
    last_of: dict[tuple[int, int], tuple[int, str]] = {}
    for seq, (snap_id, time_us) in enumerate(sorted(moments, key=lambda m: (m[1], m[0]))):
        key = window_key(policy, seq, time_us, now_us)
        if key[0] < len(policy.rules):
            last_of[key] = (time_us, snap_id)  # later ones come later: the last wins
    return {snap_id for _, snap_id in last_of.values()}


_EVERY_WORDS = {
    timedelta(minutes=1): "one a minute",
    timedelta(hours=1): "one an hour",
    timedelta(days=1): "one a day",
    timedelta(weeks=1): "one a week",
    timedelta(days=30): "one a month",
}


def _age_words(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for size, unit in ((365 * 86400, "year"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0 and (unit != "day" or seconds > 2 * 86400):
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def windows_in_words(policy: WindowPolicy) -> str:
    """'every change of the last 24 hours, then one an hour back to 7 days, then one a
    day back to 30 days' (what the retention preview says of a source's history)."""
    parts = []
    for number, rule in enumerate(policy.rules):
        what = "every change" if rule.every is None else _EVERY_WORDS[rule.every]
        age = _age_words(rule.within)
        parts.append(f"{what} of the last {age}" if number == 0 else f"{what} back to {age}")
    return ", then ".join(parts)
