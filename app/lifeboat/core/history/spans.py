"""Which times of a source's history can be restored, and which chain holds a moment.

Pure functions on plain data (the commits' times and flags as the segments' indexes
list them). A chain can be restored from its first commit on. Inside it, a commit
flagged `gap` starts a new span: between the commit before it and it, nothing was
captured (Lifeboat was not running), so no time in between can be restored. Between
two chains nothing is known either (the newer one started on a new base: the database
was replaced, vacuumed, or the older chain could not be continued). Only the newest
chain's last span stays open up to now: its last commit is the state since (the
follower captures every commit while it runs). A time in the future is refused.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lifeboat.core.history.segment import FLAG_GAP


@dataclass(frozen=True)
class CommitTime:
    seq: int
    time_us: int
    flags: int = 0


@dataclass(frozen=True)
class ChainTimes:
    base_id: str
    commits: Sequence[CommitTime]  # in commit order


@dataclass(frozen=True)
class Span:
    """Times from `start_us` to `end_us` (None: up to now) restore from chain `base_id`."""

    base_id: str
    start_us: int
    end_us: int | None


class NotRestorable(ValueError):
    """No point of the history stands for that time; the message names the nearest."""

    def __init__(self, message: str, earlier_us: int | None, later_us: int | None) -> None:
        super().__init__(message)
        self.earlier_us = earlier_us
        self.later_us = later_us


def restorable_spans(chains: Sequence[ChainTimes]) -> list[Span]:
    """The spans of every chain, oldest first; the newest chain's last one is open."""
    spans: list[Span] = []
    for chain in sorted((c for c in chains if c.commits), key=lambda c: c.commits[0].time_us):
        start = chain.commits[0].time_us
        for before, commit in zip(chain.commits, chain.commits[1:], strict=False):
            if commit.flags & FLAG_GAP:
                spans.append(Span(chain.base_id, start, before.time_us))
                start = commit.time_us
        spans.append(Span(chain.base_id, start, chain.commits[-1].time_us))
    if spans:
        last = spans[-1]
        spans[-1] = Span(last.base_id, last.start_us, None)
    return spans


def local_text(time_us: int) -> str:
    """Local time to the millisecond (commits come many a second)."""
    moment = datetime.fromtimestamp(time_us / 1e6, UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def chain_at(
    chains: Sequence[ChainTimes],
    at_us: int,
    now_us: int,
    say: Callable[[int], str] = local_text,
) -> str:
    """The base id of the chain whose points include `at_us`; NotRestorable otherwise."""
    spans = restorable_spans(chains)
    if at_us > now_us:
        raise NotRestorable(
            f"{say(at_us)} is in the future; the newest point is now ({say(now_us)})",
            (spans[-1].end_us or now_us) if spans else None,
            None,
        )
    if not spans:
        raise NotRestorable("it has no continuous history yet", None, None)
    for span in spans:
        if span.start_us <= at_us and (span.end_us is None or at_us <= span.end_us):
            return span.base_id
    first = spans[0].start_us
    if at_us < first:
        raise NotRestorable(
            f"{say(at_us)} is before its history begins; the earliest point is {say(first)}",
            None,
            first,
        )
    earlier = max(s.end_us for s in spans if s.end_us is not None and s.end_us < at_us)
    later = min(s.start_us for s in spans if s.start_us > at_us)
    raise NotRestorable(
        f"nothing was captured between {say(earlier)} and {say(later)} (Lifeboat was not "
        f"following it then), so {say(at_us)} cannot be restored; the nearest points are "
        f"{say(earlier)} and {say(later)}",
        earlier,
        later,
    )


def random_moment(chains: Sequence[ChainTimes], rng: random.Random) -> int | None:
    """A moment drawn uniformly from the restorable times up to the last commit (for a
    drill); None when there is no history."""
    spans = restorable_spans(chains)
    if not spans:
        return None
    last = max(c.commits[-1].time_us for c in chains if c.commits)
    bounds = [(s.start_us, s.end_us if s.end_us is not None else last) for s in spans]
    weights = [end - start + 1 for start, end in bounds]
    start, end = rng.choices(bounds, weights=weights)[0]
    return rng.randint(start, end)
