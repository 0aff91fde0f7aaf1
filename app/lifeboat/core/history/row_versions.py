"""A row's versions across a source's points, from what each point holds of it.

Given, oldest first, each point and the row as it holds it (or nothing), the versions
are the points where the row differs from the point before: there first (it was there
at the oldest point kept), created, changed (which columns, old and new values),
deleted (the table dropped too). Points that hold the same as the one before are
left out. Plain logic on plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RowChange(StrEnum):
    PRESENT = "present"  # there at the oldest point kept
    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"


class PointKind(StrEnum):
    FULL = "full"  # a full snapshot
    DIFF = "diff"  # a differential snapshot
    COMMIT = "commit"  # a commit of the continuous history


@dataclass(frozen=True)
class RowPoint:
    """A point that can be restored or queried: a snapshot by id, a commit by time."""

    time: datetime  # UTC
    kind: PointKind
    snapshot_id: str | None  # the snapshot (None: a commit; restore --at its time)
    time_us: int  # microseconds since the epoch (a commit's own time)
    #: read from this remote (a snapshot kept only there, a commit of a chain only it
    #: holds); None: read here
    remote: str | None = None


@dataclass(frozen=True)
class ColumnChange:
    column: str
    old: object
    new: object


@dataclass(frozen=True)
class RowVersion:
    change: RowChange
    point: RowPoint
    values: dict[str, object] | None  # the row from this point on (None: deleted)
    columns: tuple[ColumnChange, ...] = ()  # what changed (CHANGED only)
    table_gone: bool = False  # DELETED because the table itself is gone


@dataclass(frozen=True)
class RowHistory:
    versions: list[RowVersion]  # oldest first
    points: int  # the points read
    lookups: int  # how many of them the row was looked up at (the rest carried over)
    unreadable: list[tuple[str, str]]  # snapshots that could not be read: id, why


@dataclass(frozen=True)
class Observation:
    point: RowPoint
    table_exists: bool
    values: dict[str, object] | None


def row_versions(observed: list[Observation]) -> list[RowVersion]:
    """The versions of a row from its observations, oldest first."""
    versions: list[RowVersion] = []
    before: dict[str, object] | None = None
    first = True
    for seen in sorted(observed, key=lambda o: o.point.time_us):
        now = seen.values
        if first:
            first = False
            if now is not None:
                versions.append(RowVersion(RowChange.PRESENT, seen.point, now))
        elif before is None and now is not None:
            versions.append(RowVersion(RowChange.CREATED, seen.point, now))
        elif before is not None and now is None:
            gone = not seen.table_exists
            versions.append(RowVersion(RowChange.DELETED, seen.point, None, table_gone=gone))
        elif before is not None and now is not None:
            columns = column_changes(before, now)
            if columns:
                versions.append(RowVersion(RowChange.CHANGED, seen.point, now, columns))
        before = now
    return versions


def column_changes(old: dict[str, object], new: dict[str, object]) -> tuple[ColumnChange, ...]:
    """The columns whose values differ (a column added or removed counts, its missing
    side None), in the new row's order then the removed ones."""
    names = list(new) + [c for c in old if c not in new]
    return tuple(
        ColumnChange(c, old.get(c), new.get(c))
        for c in names
        if c not in old or c not in new or not _same(old[c], new[c])
    )


def _same(a: object, b: object) -> bool:
    """Equal as stored: 1 and 1.0 differ (an INTEGER became a REAL), as do 1 and True."""
    return type(a) is type(b) and a == b


def shown(value: object, width: int = 40) -> str:
    """A value for a line of text: blobs by size, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
