"""The preview's word on foreign keys: rows to bring back that point at a row the live
database no longer has. The merge itself checks with PRAGMA foreign_key_check inside its
transaction and is refused, named, if it would leave such a row (rowmerge_apply); this
says so before, with the table to bring back first."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from lifeboat.core.rowmerge_schema import q, read_shape

if TYPE_CHECKING:
    from lifeboat.core.rowmerge import Sides


def orphan_notes(conn: sqlite3.Connection, sides: Sides, kinds: tuple[str, ...]) -> tuple[str, ...]:
    shape = sides.live or sides.past
    rows = _brought_rows(sides, kinds)
    if rows is None:
        return ()
    notes = []
    for fk in shape.foreign_keys:
        if fk.parent == shape.name or not set(fk.columns) <= set(sides.fit.columns):
            continue
        parent = read_shape(conn, "main", fk.parent)
        targets = fk.parent_columns if all(fk.parent_columns) else parent.key if parent else ()
        held = " AND ".join(f"s.{q(c)} IS NOT NULL" for c in fk.columns)
        if parent is None or not targets:
            found = "0"
        else:
            same = " AND ".join(
                f"x.{q(str(t))} = s.{q(c)}" for t, c in zip(targets, fk.columns, strict=True)
            )
            found = f"EXISTS (SELECT 1 FROM main.{q(fk.parent)} x WHERE {same})"
        (count,) = conn.execute(
            f"SELECT count(*) FROM {rows} s WHERE {held} AND NOT {found}", kinds
        ).fetchone()
        if count:
            notes.append(
                f"{count} row(s) to bring back refer to rows {fk.parent} no longer has: the "
                f"merge is refused unless those come back first (restore ... --table "
                f"{fk.parent})"
            )
    return tuple(notes)


def _brought_rows(sides: Sides, kinds: tuple[str, ...]) -> str | None:
    """The past rows the merge writes, as a subquery with the table's column names
    (its parameters: `kinds`)."""
    if not kinds:
        return None
    marks = ", ".join("?" for _ in kinds)
    if sides.key:
        match = " AND ".join(f"p.{q(k)} IS r.k{i}" for i, k in enumerate(sides.key))
        return (
            f"(SELECT p.* FROM temp.lb_rows r JOIN past.{q(sides.past.name)} p ON {match} "
            f"WHERE r.why = '' AND r.kind IN ({marks}))"
        )
    named = ", ".join(f"c{i} AS {q(c)}" for i, c in enumerate(sides.fit.columns))
    return f"(SELECT {named} FROM temp.lb_rows WHERE why = '' AND kind IN ({marks}))"
