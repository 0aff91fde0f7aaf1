"""What deleting one snapshot by hand does to the others: plain data, no I/O.

A differential is restored from its base; the base's copy on a remote keeps it
restorable (the base is downloaded), else the differentials built on it can no longer
be restored once it is deleted. A snapshot that retention keeps as the one of its day,
week, month... (core/retention.py apply_policy, the prune's own plan) and that no other
snapshot of that period could replace, leaves that period with none. The front ends ask
before deleting and say afterwards what happened, from this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.retention import RetentionPolicy, apply_policy, snapshot_info

#: The retention periods, as the policy's buckets name them, and what tells a period.
PERIODS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


@dataclass(frozen=True)
class DeletionEffects:
    record: SnapshotRecord
    #: the differentials built on it (restored with it as their base)
    dependents: tuple[SnapshotRecord, ...]
    #: the remotes that keep a proven copy of it (it stays restorable from there)
    kept_on: tuple[str, ...]
    #: the retention periods ("daily", "weekly", ...) it is the only snapshot kept for
    periods: tuple[str, ...] = ()

    @property
    def pinned_dependents(self) -> tuple[SnapshotRecord, ...]:
        return tuple(r for r in self.dependents if r.manifest.protected)

    @property
    def breaks(self) -> tuple[SnapshotRecord, ...]:
        """The snapshots that can no longer be restored once it is deleted here."""
        return () if self.kept_on else self.dependents

    @property
    def lost_periods(self) -> tuple[str, ...]:
        """The periods left with no snapshot at all once it is deleted here."""
        return () if self.kept_on else self.periods


def deletion_effects(
    record: SnapshotRecord,
    records: list[SnapshotRecord],
    policy: RetentionPolicy | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> DeletionEffects:
    """What deleting `record` (its files here) does, given every snapshot of its source
    and the source's retention `policy` (None: it is no longer backed up)."""
    dependents = tuple(
        r for r in records if r.manifest.kind == "diff" and r.manifest.base == record.id
    )
    kept_on = tuple(c.remote for c in record.copies if c.proven)
    periods: tuple[str, ...] = ()
    if policy is not None and now is not None:
        periods = only_one_kept_for(record, records, policy, now, tz)
    return DeletionEffects(record, dependents, kept_on, periods)


def only_one_kept_for(
    record: SnapshotRecord,
    records: list[SnapshotRecord],
    policy: RetentionPolicy,
    now: datetime,
    tz: tzinfo | None = None,
) -> tuple[str, ...]:
    """The periods retention keeps `record` for (as the newest of its day, week...)
    with no other good snapshot here from the same period to take its place."""
    local = [r for r in records if r.local]
    decisions = apply_policy([snapshot_info(r) for r in local], policy, now, tz)
    mine = next((d for d in decisions if d.snapshot.id == record.id), None)
    if mine is None or not mine.keep:
        return ()
    buckets = [b for b in PERIODS if any(r.startswith(f"{b} ") for r in mine.reasons)]
    others = [
        d.snapshot
        for d in decisions
        if d.snapshot.id != record.id and d.snapshot.good and d.snapshot.kind != "raw"
    ]
    moment = mine.snapshot.created_at.astimezone(tz)
    return tuple(
        bucket
        for bucket in buckets
        if not any(
            PERIODS[bucket](o.created_at.astimezone(tz)) == PERIODS[bucket](moment) for o in others
        )
    )
