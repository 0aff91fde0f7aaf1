"""What a restore would change, as figures: the records `dbdiff.diff_databases` returns
and `dbdiff_summary.summarize` puts into words."""

from __future__ import annotations

from dataclasses import dataclass, field

#: `TableDiff.matched_by` of a table SQLite could not read here (no counts either)
NOT_COMPARED = "not compared"


@dataclass
class TableDiff:
    name: str
    rows_snapshot: int | None
    rows_now: int | None
    brought_back: int | None = None  # in the snapshot, not now: a restore brings them back
    removed: int | None = None  # now, not in the snapshot: a restore removes them
    changed: int | None = None  # in both, with other values
    matched_by: str = "rowid"  # rowid | primary key | counts only | not compared
    partial: bool = False
    note: str | None = None

    @property
    def differs(self) -> bool:
        return (
            bool(self.brought_back or self.removed or self.changed)
            or self.rows_snapshot != self.rows_now
        )

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class SchemaDiff:
    added: list[str] = field(default_factory=list)  # "table notes2", "index i" (now only)
    removed: list[str] = field(default_factory=list)  # in the snapshot only
    columns_added: dict[str, list[str]] = field(default_factory=dict)
    columns_removed: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class DatabaseDiff:
    tables: list[TableDiff]
    schema: SchemaDiff
    partial: bool
    seconds: float
    #: why SQLite cannot read the other database (then only the snapshot is described)
    unreadable: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "tables": [t.to_json() for t in self.tables],
            "schema": self.schema.to_json(),
            "partial": self.partial,
            "seconds": round(self.seconds, 3),
            "unreadable": self.unreadable,
        }
