"""Which times restore from which chain; gaps, the future and times before the history
are refused naming the nearest restorable times (a table on plain data)."""

from __future__ import annotations

import pytest

from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED
from lifeboat.core.history.spans import (
    ChainTimes,
    CommitTime,
    NotRestorable,
    Span,
    chain_at,
    restorable_spans,
)


def chain(base: str, *times: int, gap_at: int | None = None) -> ChainTimes:
    flags = {gap_at: FLAG_GAP} if gap_at is not None else {}
    commits = [CommitTime(n + 1, t, flags.get(t, 0)) for n, t in enumerate(times)]
    return ChainTimes(base, commits)


# Chain A: commits 100..200, a gap (Lifeboat was not running) from 200 to 300, then to 400.
# Chain B (a new base) from 600 to 700; now is 1000.
CHAINS = [chain("bbbbbbbb", 600, 650, 700), chain("aaaaaaaa", 100, 150, 200, 300, 400, gap_at=300)]
NOW = 1000


def test_spans():
    assert restorable_spans(CHAINS) == [
        Span("aaaaaaaa", 100, 200),
        Span("aaaaaaaa", 300, 400),
        Span("bbbbbbbb", 600, None),
    ]
    merged = ChainTimes("cccccccc", [CommitTime(1, 10), CommitTime(2, 20, FLAG_MERGED)])
    assert restorable_spans([merged]) == [Span("cccccccc", 10, None)]


@pytest.mark.parametrize(
    ("at", "base"),
    [(at, "aaaaaaaa") for at in (100, 175, 200, 300, 399, 400)]
    + [(at, "bbbbbbbb") for at in (600, 999, 1000)],
)
def test_restorable(at, base):
    assert chain_at(CHAINS, at, NOW, say=str) == base


@pytest.mark.parametrize(
    ("at", "says", "earlier", "later"),
    [
        (99, "99 is before its history begins; the earliest point is 100", None, 100),
        (250, "nothing was captured between 200 and 300", 200, 300),
        (401, "nothing was captured between 400 and 600", 400, 600),
        (1001, "1001 is in the future", None, None),
    ],
)
def test_refused_naming_the_nearest(at, says, earlier, later):
    with pytest.raises(NotRestorable) as caught:
        chain_at(CHAINS, at, NOW, say=str)
    assert says in str(caught.value)
    if earlier is not None or later is not None:
        assert (caught.value.earlier_us, caught.value.later_us) == (earlier, later)
        assert f"nearest points are {earlier} and {later}" in str(caught.value) or earlier is None


def test_no_history():
    with pytest.raises(NotRestorable, match="no continuous history yet"):
        chain_at([], 5, NOW, say=str)
    with pytest.raises(NotRestorable, match="is in the future"):
        chain_at([], NOW + 1, NOW, say=str)  # a rollback-journal database: no chains at all
