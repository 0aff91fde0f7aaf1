"""Retention policies: parse keep specs (pure functions, no I/O).

Spec: `last=N, hourly=N, daily=N, weekly=N, monthly=N, yearly=N, within=DURATION`
(e.g. `last=7,daily=7,weekly=4,monthly=12,yearly=2`, `within=30d`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifeboat.core.catalog_records import SnapshotRecord

DEFAULT_KEEP = "last=10,daily=7,weekly=4,monthly=12"
BUCKETS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_DURATION_RE = re.compile(r"^(\d+)([hdwmy])$")
_DURATION_UNITS = {
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "m": timedelta(days=30),
    "y": timedelta(days=365),
}
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
        words = {
            "last": "the last {}",
            "hourly": "{} hourly",
            "daily": "{} daily",
            "weekly": "{} weekly",
            "monthly": "{} monthly",
            "yearly": "{} yearly",
        }
        parts = [words[name].format(getattr(self, name)) for name in BUCKETS if getattr(self, name)]
        if self.within is not None:
            parts.append(f"all from the last {self.within_text}")
        return (
            "keep "
            + (", ".join(parts) if parts else "only the newest")
            + "; protected snapshots are always kept"
        )


def parse_keep(spec: str) -> RetentionPolicy:
    """Parse a keep spec; raise KeepSpecError with a clear reason."""
    if not isinstance(spec, str) or not spec.strip():
        raise KeepSpecError("empty keep spec; write it like 'last=7,daily=7,weekly=4'")
    counts: dict[str, int] = {}
    within: timedelta | None = None
    within_text = ""
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.lower()
        if not sep:
            raise KeepSpecError(f"{part!r} in keep spec: write it as key=value, e.g. daily=7")
        # A given `within` also sets within_text: a key naming either is then a repeat.
        if key in counts or (key in ("within", "within_text") and within is not None):
            raise KeepSpecError(f"{key} appears twice in keep spec {spec!r}")
        if key == "within":
            match = _DURATION_RE.match(value.lower())
            if not match or int(match.group(1)) == 0:
                raise KeepSpecError(
                    f"within={value!r}: write a duration like 48h, 30d, 8w, 6m or 1y"
                )
            within = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
            within_text = value.lower()
        elif key in BUCKETS:
            if not value.isdigit() or int(value) > _MAX_COUNT:
                raise KeepSpecError(
                    f"{key}={value!r}: the count must be a whole number from 0 to {_MAX_COUNT}"
                )
            counts[key] = int(value)
        else:
            names = ", ".join((*BUCKETS, "within"))
            raise KeepSpecError(f"unknown key {key!r} in keep spec; use {names}")
    return RetentionPolicy(
        last=counts.get("last", 0),
        hourly=counts.get("hourly", 0),
        daily=counts.get("daily", 0),
        weekly=counts.get("weekly", 0),
        monthly=counts.get("monthly", 0),
        yearly=counts.get("yearly", 0),
        within=within,
        within_text=within_text,
    )


# -- applying a policy ----------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """What retention needs to know of one snapshot (plain data, no I/O)."""

    id: str
    created_at: datetime
    protected: bool = False
    good: bool = True  # False: failed verification or its file is missing
    kind: str = "full"  # full | diff | raw
    base: str | None = None  # the full snapshot a differential depends on
    size: int = 0
    problem: str = "damaged"  # what is wrong with it when it is not good


def snapshot_info(record: SnapshotRecord, *, assume_good: bool = False) -> SnapshotInfo:
    """Retention's view of a snapshot. Remote copies count as good (`assume_good`): a
    damaged local file says nothing about them."""
    m = record.manifest
    return SnapshotInfo(
        id=m.id,
        created_at=m.created_at,
        protected=m.protected,
        good=assume_good or record.status == "ok",
        kind=m.kind,
        base=m.base,
        size=m.size,
        problem="missing its file" if record.status == "missing" else "damaged",
    )


@dataclass(frozen=True)
class Decision:
    snapshot: SnapshotInfo
    keep: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return ", ".join(self.reasons)


_BUCKET_KEYS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


def apply_policy(
    snapshots: Sequence[SnapshotInfo],
    policy: RetentionPolicy,
    now: datetime,
    tz: tzinfo | None = None,
    needed: Mapping[str, str] | None = None,
) -> list[Decision]:
    """Decide, for one source's snapshots, which to keep and which to forget, and why.

    Like restic's `forget`: each bucket keeps the newest snapshot of each of its last N
    periods that have one (periods in local time, or `tz`); a snapshot kept by any rule
    is kept; `within` keeps every snapshot taken in that span before `now`. Protected
    snapshots are always kept and fill no bucket; damaged ones (and differentials whose
    base is damaged) fill no bucket and are kept too: deleting a damaged snapshot is the
    user's decision, never a policy's; a base is kept while a kept differential needs
    it; `needed` snapshots (id -> why: the base of continuous history) are kept; and at
    least one snapshot is always kept. Result: newest first.
    """
    ordered = sorted(snapshots, key=lambda s: (s.created_at, s.id), reverse=True)
    reasons: dict[str, list[str]] = {s.id: [] for s in ordered}
    by_id = {s.id: s for s in ordered}
    _keep_protected_and_unusable(ordered, by_id, reasons)
    unusable = {
        s.id for s in ordered if not s.good or (s.base in by_id and not by_id[str(s.base)].good)
    }
    counted = [s for s in ordered if s.id not in unusable and not s.protected and s.kind != "raw"]
    for snap in counted[: policy.last]:
        reasons[snap.id].append(f"last {policy.last}")
    _fill_buckets(counted, policy, tz, reasons)
    if policy.within is not None:
        horizon = now - policy.within
        for snap in counted:
            if snap.created_at >= horizon:
                reasons[snap.id].append(f"within {policy.within_text}")
    for snap_id, why in (needed or {}).items():
        if snap_id in reasons:
            reasons[snap_id].append(why)
    if not any(reasons[s.id] for s in counted) and ordered:
        newest = counted[0] if counted else next((s for s in ordered if not s.protected), None)
        if newest is not None:
            reasons[newest.id].append("only remaining snapshot")
    _keep_bases(ordered, reasons)
    return [
        Decision(snap, bool(reasons[snap.id]), tuple(reasons[snap.id]) or ("not kept by any rule",))
        for snap in ordered
    ]


def _keep_protected_and_unusable(
    ordered: Sequence[SnapshotInfo],
    by_id: dict[str, SnapshotInfo],
    reasons: dict[str, list[str]],
) -> None:
    """Protected snapshots, damaged ones and differentials whose base is damaged are
    kept: deleting them is the user's decision."""
    for snap in ordered:
        if snap.protected:
            reasons[snap.id].append("protected")
        if not snap.good:
            reasons[snap.id].append(f"{snap.problem}: kept until you delete it")
        elif snap.base in by_id and not by_id[str(snap.base)].good:
            reasons[snap.id].append(
                f"its base {snap.base} is {by_id[str(snap.base)].problem}: kept until you delete it"
            )


def _fill_buckets(
    counted: Sequence[SnapshotInfo],
    policy: RetentionPolicy,
    tz: tzinfo | None,
    reasons: dict[str, list[str]],
) -> None:
    """Each bucket keeps the newest snapshot of each of its last N periods that have one."""
    for bucket, key_of in _BUCKET_KEYS.items():
        limit = getattr(policy, bucket)
        if not limit:
            continue
        last_key: tuple[int, ...] | None = None
        filled = 0
        for snap in counted:
            key = key_of(snap.created_at.astimezone(tz))
            if key == last_key:
                continue
            last_key = key
            filled += 1
            if filled > limit:
                break
            reasons[snap.id].append(f"{bucket} {filled}/{limit}")


def _keep_bases(ordered: Sequence[SnapshotInfo], reasons: dict[str, list[str]]) -> None:
    dependents: dict[str, int] = {}
    for snap in ordered:
        if snap.base and reasons[snap.id]:
            dependents[snap.base] = dependents.get(snap.base, 0) + 1
    for base, count in dependents.items():
        if base in reasons:
            noun = "snapshot" if count == 1 else "snapshots"
            reasons[base].append(f"base of {count} kept {noun}")


def freed_bytes(decisions: Sequence[Decision]) -> int:
    return sum(d.snapshot.size for d in decisions if not d.keep)
