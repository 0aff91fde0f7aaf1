"""Window policies for thinning (pure functions, table tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat.core.history.compaction import FLAG_THINNED, thin_commits
from lifeboat.core.history.segment import CommitRecord
from lifeboat.core.history.windows import (
    DEFAULT_WINDOWS,
    WindowSpecError,
    parse_windows,
    window_key,
)

H = 3_600_000_000  # an hour in microseconds


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        (
            DEFAULT_WINDOWS,
            [
                (timedelta(hours=24), None),
                (timedelta(days=7), timedelta(hours=1)),
                (timedelta(days=30), timedelta(days=1)),
            ],
        ),
        ("90min all", [(timedelta(minutes=90), None)]),
        (
            "  2d all ,  8w daily,1y monthly ",
            [
                (timedelta(days=2), None),
                (timedelta(weeks=8), timedelta(days=1)),
                (timedelta(days=365), timedelta(days=30)),
            ],
        ),
        ("1h minutely", [(timedelta(hours=1), timedelta(minutes=1))]),
    ],
)
def test_specs_that_parse(spec, rules):
    policy = parse_windows(spec)
    assert [(r.within, r.every) for r in policy.rules] == rules


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "empty"),
        ("24h", "write an age"),
        ("24h sometimes", "keep all"),
        ("0h all", "from 1 to 10 years"),
        ("7d hourly, 24h all", "youngest to oldest"),
        ("24h daily, 7d hourly", "cannot keep more"),
        ("99y all", "from 1 to 10 years"),
        ("24x all", "write an age"),
    ],
)
def test_specs_that_do_not(spec, says):
    with pytest.raises(WindowSpecError, match=says):
        parse_windows(spec)


def test_window_keys():
    policy = parse_windows(DEFAULT_WINDOWS)
    now = 1000 * 24 * H
    # The last day: each commit its own window.
    assert window_key(policy, 1, now - H, now) != window_key(policy, 2, now - H, now)
    # Two days back: one window per hour.
    old = now - 48 * H
    assert window_key(policy, 1, old, now) == window_key(policy, 2, old + 1000, now)
    assert window_key(policy, 1, old, now) != window_key(policy, 2, old + H, now)
    # Ten days back: one per day; beyond 30 days: one window.
    assert window_key(policy, 1, now - 240 * H, now) == window_key(
        policy, 2, now - 240 * H + H, now
    ) or (now - 240 * H) // (24 * H) != (now - 239 * H) // (24 * H)
    assert window_key(policy, 1, now - 900 * H, now) == window_key(policy, 2, now - 800 * H, now)


def test_thinning_keeps_the_last_state_of_each_window():
    policy = parse_windows("1h all, 1d hourly")
    now = 1000 * 24 * H
    start = now - 5 * H - H // 2  # 5.5 hours back
    commits = [
        CommitRecord(k, start + k * (H // 4), 100 + k, 0, {k % 3 + 1: bytes([k]) * 8, 50: b"z" * 8})
        for k in range(1, 22)
    ]
    thinned = list(thin_commits(iter(commits), policy, now))
    assert len(thinned) < len(commits)
    for merged in thinned:
        window = [
            c
            for c in commits
            if window_key(policy, c.seq, c.time_us, now)
            == window_key(policy, merged.seq, merged.time_us, now)
        ]
        last = window[-1]
        assert merged.seq == last.seq and merged.time_us == last.time_us
        expected: dict[int, bytes] = {}
        for c in window:
            expected.update(c.pages)
        assert dict(merged.pages) == expected
        assert bool(merged.flags & FLAG_THINNED) == (len(window) > 1)
    # The young commits (the last hour) stay one by one.
    young = [c for c in commits if now - c.time_us <= H]
    assert [c.seq for c in thinned[-len(young) :]] == [c.seq for c in young]


def test_bases_needed_keeps_the_live_chain_and_chains_with_promised_points():
    from lifeboat.core.history.windows import ChainSpan, bases_needed

    chains = [ChainSpan("old", 100), ChainSpan("mid", 500), ChainSpan("live", 900)]
    assert bases_needed(chains, since_us=400) == {
        "live": "base of the continuous history being captured",
        "mid": "base of continuous history still kept",
    }
    assert bases_needed(chains, since_us=1000) == {
        "live": "base of the continuous history being captured"
    }
    assert bases_needed([ChainSpan("empty", None)], since_us=0) == {
        "empty": "base of the continuous history being captured"
    }
    assert bases_needed([], since_us=0) == {}


def test_kept_by_windows_keeps_the_last_snapshot_of_each_window_the_policy_promises():
    from lifeboat.core.history.windows import kept_by_windows, parse_windows

    hour, day = 3_600_000_000, 86_400_000_000
    now = 100 * day
    policy = parse_windows("2h all, 2d hourly")
    moments = [
        ("a", now - 30 * 60_000_000),  # within 2h: every one kept
        ("b", now - 60 * 60_000_000),
        ("c", now - 3 * hour - 10 * 60_000_000),  # the same hour: the later one
        ("d", now - 3 * hour - 50 * 60_000_000),
        ("e", now - 3 * day),  # older than every rule: the source's keep decides
    ]
    assert kept_by_windows(moments, policy, now) == {"a", "b", "c"}
    assert kept_by_windows([], policy, now) == set()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            "24h all, 7d hourly, 30d daily",
            "every change of the last 24 hours, then one an hour back to 7 days, "
            "then one a day back to 30 days",
        ),
        (
            "90min minutely, 1y weekly",
            "one a minute of the last 90 minutes, then one a week back to 1 year",
        ),
        ("1d all", "every change of the last 24 hours"),
    ],
)
def test_windows_in_words(spec: str, words: str):
    from lifeboat.core.history.windows import parse_windows, windows_in_words

    assert windows_in_words(parse_windows(spec)) == words
