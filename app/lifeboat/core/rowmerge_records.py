"""What a row merge (bringing back only what was lost) asks for, plans and did: plain
values the service returns and the front ends show. No SQLite here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What is brought back: rows deleted since and rows changed since (by the conflict
# policy), only the deleted ones, or only the changed ones (put back to their old values).
MODES = ("both", "deleted", "changed")


#: the table of a past copy that holds only the rows of the pages that changed
#: (core/rowmerge_changed_rows): how many rows the table held then
PARTIAL_TABLE = "lifeboat_changed_rows_only"


@dataclass(frozen=True)
class MergeRequest:
    """`table` as it was in the past copy, merged into live table `into` (the same name
    unless the table was renamed since); `where` an SQL condition on the past rows."""

    table: str
    where: str | None = None
    mode: str = "both"
    prefer_past: bool = False  # rows changed on both sides: keep live (default) or past
    into: str | None = None
    drop_removed_columns: bool = False  # columns gone from live: refuse unless this
    show_rows: int = 0

    @property
    def live_table(self) -> str:
        return self.into or self.table

    @property
    def overwrites_changed(self) -> bool:
        return self.mode == "changed" or (self.mode == "both" and self.prefer_past)


@dataclass(frozen=True)
class RowSample:
    """One row of the plan: `past` as it was; `live` as it is now (None if gone)."""

    kind: str  # "deleted" | "changed" | "conflict"
    past: dict[str, Any]
    live: dict[str, Any] | None = None
    reason: str = ""


@dataclass(frozen=True)
class MergePlan:
    """Exact counts of what the merge does and leaves, computed on the live database as
    it is now; `notes` say how rows are matched, what triggers do, what the schema
    check found."""

    table: str
    live_table: str
    match: str  # "primary key (a, b)" or "whole rows"
    deleted: int  # rows gone since
    changed: int  # rows whose values changed since
    unchanged: int
    added: int  # rows added since: always kept
    to_insert: int  # deleted rows brought back
    overwritten: int  # changed rows put back to their past values
    skipped_changed: int  # changed rows kept as they are now (the conflict policy or mode)
    conflicts: int  # rows that would break a UNIQUE constraint of live: not brought back
    create_table: bool  # the table is gone from live: re-created from the past schema
    triggers: tuple[str, ...]
    notes: tuple[str, ...]
    rows: tuple[RowSample, ...] = field(default=())

    @property
    def changes_anything(self) -> bool:
        return self.to_insert > 0 or self.overwritten > 0 or self.create_table

    def same_counts(self, other: MergePlan) -> bool:
        keys = ("deleted", "changed", "to_insert", "overwritten", "conflicts", "create_table")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MergeOutcome:
    """What the merge did, in one committed transaction, after the safety snapshot."""

    plan: MergePlan
    inserted: int
    updated: int
    safety_id: str | None
    past: str  # the point or snapshot the rows came from, in words
    seconds: float
    # seconds per phase (safety, past, plan, recheck) and the longest write-lock hold
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "inserted": self.inserted,
            "updated": self.updated,
            "safety_snapshot": self.safety_id,
            "past": self.past,
            "seconds": round(self.seconds, 3),
            "phases": self.phases,
        }
