"""Retention: table-driven cases with fixed clocks, and properties that always hold."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from lifeboat.core.retention import SnapshotInfo, apply_policy, freed_bytes, parse_keep

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def snaps(*times: str, **flags: object) -> list[SnapshotInfo]:
    return [
        SnapshotInfo(id=f"s{i:07d}", created_at=datetime.fromisoformat(t), **flags)
        for i, t in enumerate(times)
    ]


def kept(decisions) -> list[str]:
    return sorted(d.snapshot.id for d in decisions if d.keep)


def reasons(decisions) -> dict[str, tuple[str, ...]]:
    return {d.snapshot.id: d.reasons for d in decisions}


def test_last_n_keeps_the_newest():
    s = snaps(*(f"2026-03-0{d}T10:00:00+00:00" for d in range(1, 10)))
    out = apply_policy(s, parse_keep("last=3"), NOW)
    assert kept(out) == ["s0000006", "s0000007", "s0000008"]
    assert reasons(out)["s0000008"] == ("last 3",)
    assert reasons(out)["s0000000"] == ("not kept by any rule",)
    assert out[0].snapshot.id == "s0000008"  # newest first


def test_daily_keeps_newest_of_each_day_and_skips_empty_days():
    s = snaps(
        "2026-03-01T08:00:00+00:00",
        "2026-03-01T20:00:00+00:00",
        "2026-03-03T09:00:00+00:00",
        "2026-03-07T09:00:00+00:00",
        "2026-03-07T10:00:00+00:00",
    )
    out = apply_policy(s, parse_keep("daily=3"), NOW, tz=UTC)
    assert kept(out) == ["s0000001", "s0000002", "s0000004"]
    assert reasons(out)["s0000004"] == ("daily 1/3",)
    assert reasons(out)["s0000002"] == ("daily 2/3",)
    assert reasons(out)["s0000001"] == ("daily 3/3",)


def test_monthly_and_yearly_across_year_boundary():
    s = snaps(
        "2024-12-31T23:00:00+00:00",
        "2025-01-01T01:00:00+00:00",
        "2025-11-15T00:00:00+00:00",
        "2025-12-31T22:00:00+00:00",
        "2026-01-01T00:30:00+00:00",
    )
    out = apply_policy(s, parse_keep("monthly=2,yearly=3"), NOW, tz=UTC)
    r = reasons(out)
    assert r["s0000004"] == ("monthly 1/2", "yearly 1/3")
    assert r["s0000003"] == ("monthly 2/2", "yearly 2/3")
    assert r["s0000000"] == ("yearly 3/3",)
    assert not [d for d in out if d.snapshot.id in ("s0000001", "s0000002") and d.keep]


def test_weekly_uses_iso_weeks():
    # Sunday 2026-03-08 and Monday 2026-03-09 are in different ISO weeks.
    s = snaps("2026-03-07T12:00:00+00:00", "2026-03-08T12:00:00+00:00", "2026-03-09T12:00:00+00:00")
    out = apply_policy(s, parse_keep("weekly=2"), NOW, tz=UTC)
    assert kept(out) == ["s0000001", "s0000002"]


def test_days_are_local_days_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")  # DST starts 2026-03-29 02:00 -> 03:00
    s = snaps(
        "2026-03-28T22:30:00+00:00",  # 23:30 local on the 28th
        "2026-03-28T23:30:00+00:00",  # 00:30 local on the 29th (CET)
        "2026-03-29T21:30:00+00:00",
    )  # 23:30 local on the 29th (CEST)
    out = apply_policy(s, parse_keep("daily=5"), NOW, tz=berlin)
    assert kept(out) == ["s0000000", "s0000002"]
    hourly = apply_policy(s, parse_keep("hourly=10"), NOW, tz=berlin)
    assert kept(hourly) == ["s0000000", "s0000001", "s0000002"]


def test_within_keeps_everything_recent():
    s = snaps("2026-02-01T00:00:00+00:00", "2026-03-05T00:00:00+00:00", "2026-03-09T00:00:00+00:00")
    out = apply_policy(s, parse_keep("within=7d"), NOW)
    assert kept(out) == ["s0000001", "s0000002"]
    assert reasons(out)["s0000002"] == ("within 7d",)


def test_protected_never_counts_and_is_never_forgotten():
    s = snaps("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")
    s.append(SnapshotInfo("p0000000", datetime(2026, 3, 3, tzinfo=UTC), protected=True))
    out = apply_policy(s, parse_keep("last=1"), NOW)
    assert kept(out) == ["p0000000", "s0000001"]
    assert reasons(out)["p0000000"] == ("protected",)


def test_all_protected():
    s = snaps("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00", protected=True)
    out = apply_policy(s, parse_keep("last=0"), NOW)
    assert kept(out) == ["s0000000", "s0000001"]


def test_policy_of_zeros_keeps_the_only_remaining_snapshot():
    s = snaps("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")
    out = apply_policy(s, parse_keep("last=0,daily=0"), NOW)
    assert kept(out) == ["s0000001"]
    assert reasons(out)["s0000001"] == ("only remaining snapshot",)


def test_single_snapshot_is_kept():
    s = snaps("2020-01-01T00:00:00+00:00")
    assert kept(apply_policy(s, parse_keep("within=1d"), NOW)) == ["s0000000"]


def test_empty():
    assert apply_policy([], parse_keep("last=3"), NOW) == []


def test_damaged_snapshots_fill_no_bucket_and_are_kept_for_the_user():
    s = snaps("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")
    s.append(SnapshotInfo("bad00000", datetime(2026, 3, 3, tzinfo=UTC), good=False, size=7))
    out = apply_policy(s, parse_keep("last=1"), NOW)
    assert kept(out) == ["bad00000", "s0000001"]
    assert reasons(out)["bad00000"] == ("damaged: kept until you delete it",)
    assert freed_bytes(out) == 0


def test_an_intact_differential_of_a_damaged_base_is_kept_and_fills_no_bucket():
    base = SnapshotInfo("base0000", datetime(2026, 3, 1, tzinfo=UTC), good=False)
    diff = SnapshotInfo("diff0000", datetime(2026, 3, 2, tzinfo=UTC), kind="diff", base="base0000")
    newer = SnapshotInfo("full0000", datetime(2026, 3, 3, tzinfo=UTC))
    out = apply_policy([base, diff, newer], parse_keep("last=1"), NOW)
    assert kept(out) == ["base0000", "diff0000", "full0000"]
    assert reasons(out)["diff0000"][0].startswith("its base base0000 is damaged")
    assert reasons(out)["full0000"] == ("last 1",)


def test_bases_are_kept_for_their_kept_differentials():
    base = SnapshotInfo("base0000", datetime(2026, 3, 1, tzinfo=UTC))
    diffs = [
        SnapshotInfo(
            f"diff000{i}", datetime(2026, 3, 2 + i, tzinfo=UTC), kind="diff", base="base0000"
        )
        for i in range(3)
    ]
    out = apply_policy([base, *diffs], parse_keep("last=2"), NOW)
    assert kept(out) == ["base0000", "diff0001", "diff0002"]
    assert reasons(out)["base0000"] == ("base of 2 kept snapshots",)


# -- properties ----------------------------------------------------------------------

snapshot_lists = st.lists(
    st.builds(
        SnapshotInfo,
        id=st.text("0123456789abcdef", min_size=8, max_size=8),
        created_at=st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2026, 3, 10), timezones=st.just(UTC)
        ),
        protected=st.booleans(),
        good=st.booleans(),
        size=st.integers(0, 10_000),
    ),
    max_size=40,
    unique_by=lambda s: s.id,
)
policies = st.builds(
    lambda last, h, d, w, m, y, within: parse_keep(
        f"last={last},hourly={h},daily={d},weekly={w},monthly={m},yearly={y}"
        + (f",within={within}d" if within else "")
    ),
    *(st.integers(0, 6) for _ in range(6)),
    st.integers(0, 30),
)


def _with_bases(items: list[SnapshotInfo]) -> list[SnapshotInfo]:
    """Turn every third snapshot into a differential of the oldest full before it."""
    ordered = sorted(items, key=lambda s: s.created_at)
    out: list[SnapshotInfo] = []
    last_full: SnapshotInfo | None = None
    for i, snap in enumerate(ordered):
        if i % 3 == 2 and last_full is not None:
            out.append(
                SnapshotInfo(
                    snap.id,
                    snap.created_at,
                    snap.protected,
                    snap.good,
                    "diff",
                    last_full.id,
                    snap.size,
                )
            )
        else:
            out.append(snap)
            last_full = snap
    return out


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, policies)
def test_properties(items: list[SnapshotInfo], policy):
    items = _with_bases(items)
    out = apply_policy(items, policy, NOW)
    assert len(out) == len(items)
    keep = {d.snapshot.id for d in out if d.keep}
    if items:
        assert keep, "at least one snapshot is always kept"
    assert all(s.id in keep for s in items if s.protected), "a protected snapshot was forgotten"
    assert all(s.id in keep for s in items if not s.good), "a damaged snapshot was forgotten"
    for s in items:
        if s.base and s.id in keep:
            assert s.base in keep, "a kept differential lost its base"
    survivors = [s for s in items if s.id in keep]
    again = apply_policy(survivors, policy, NOW)
    assert all(d.keep for d in again), "pruning twice forgot more"
    assert apply_policy(items, policy, NOW) == out


@settings(max_examples=100, deadline=None)
@given(
    snapshot_lists,
    policies,
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
def test_result_does_not_depend_on_input_order(items, policy, zone):
    tz = ZoneInfo(zone)
    forward = apply_policy(items, policy, NOW, tz)
    backward = apply_policy(list(reversed(items)), policy, NOW, tz)
    assert forward == backward
