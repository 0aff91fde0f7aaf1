"""Whether a row merge's plan, made before the merge's write lock while the app kept
writing, still holds under the lock: the live rows it relies on are as they were.

The plan (core/rowmerge, temp.lb_rows) relies on three things of the live table: the
rows it brings back are still absent (their keys free), the rows it puts back to their
past values are still exactly as they were when it was made (the app did not edit them
meanwhile: putting back would silently undo that edit), and the UNIQUE values of the rows
it brings back are still free. Other live rows may change freely: the merge does not
touch them. `remember_planned_rows` keeps a copy of the rows to put back (temp.lb_seen)
right after planning; `plan_still_holds` checks all three under the lock in time
proportional to the plan, not to the table (key lookups only).

A table without a primary key is matched by whole rows as multisets: checking it means
counting the whole table again, so such a plan is never taken as holding once anything
was written (the caller plans it again under the lock).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from lifeboat.core.rowmerge import Sides, brought_kinds, mark_conflicts, plan_sides, row_match
from lifeboat.core.rowmerge_records import MergePlan, MergeRequest
from lifeboat.core.rowmerge_schema import q


def schema_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA main.schema_version").fetchone()
    return int(version)


def remember_planned_rows(conn: sqlite3.Connection, sides: Sides, plan: MergePlan) -> None:
    """Right after planning: the live rows the plan puts back, as they are now."""
    conn.execute("DROP TABLE IF EXISTS temp.lb_seen")
    if not sides.key or sides.live is None or not plan.overwritten:
        return
    conn.execute(
        f"CREATE TEMP TABLE lb_seen AS SELECT l.* FROM {sides.live_name} l "
        f"JOIN temp.lb_rows r ON {row_match('l', 'r', sides.key)} "
        "WHERE r.kind = 'changed' AND r.why = ''"
    )


def plan_still_holds(
    conn: sqlite3.Connection,
    sides: Sides,
    plan: MergePlan,
    request: MergeRequest,
    planned_schema: int,
) -> str | None:
    """None if the plan holds on the live database as it is now (call under the write
    lock); else what changed since it was made, in words."""
    if schema_version(conn) != planned_schema:
        return "the database's tables changed"
    if sides.live is None:
        return None  # the table is created: nothing of live is relied on
    if not sides.key:
        return f"{sides.live.name} has no primary key: its rows are counted again"
    name = sides.live_name
    (taken,) = conn.execute(
        "SELECT count(*) FROM temp.lb_rows r WHERE r.kind = 'deleted' AND r.why = '' "
        f"AND EXISTS (SELECT 1 FROM {name} l WHERE {row_match('l', 'r', sides.key)})"
    ).fetchone()
    if taken:
        return f"{taken} row(s) to bring back were written again by the app"
    if plan.overwritten:
        # Found by key first (an index lookup), then every column compared.
        key = " AND ".join(f"l.{q(k)} IS s.{q(k)}" for k in sides.key)
        same = " AND ".join(f"l.{q(c)} IS s.{q(c)}" for c in sides.live.columns)
        (edited,) = conn.execute(
            f"SELECT count(*) FROM temp.lb_seen s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {name} l WHERE {key} AND {same})"
        ).fetchone()
        if edited:
            return f"{edited} row(s) to put back were changed again by the app"
    conflicts = _conflicted(conn)
    mark_conflicts(conn, sides, brought_kinds(request))
    if _conflicted(conn) != conflicts:
        return "rows the app wrote now hold values the rows to bring back need"
    return None


def _conflicted(conn: sqlite3.Connection) -> int:
    (count,) = conn.execute("SELECT count(*) FROM temp.lb_rows WHERE why != ''").fetchone()
    return int(count)


@dataclass(frozen=True)
class Planning:
    """A plan made outside the merge's transaction, and what the live database was then."""

    planned: tuple[MergePlan, Sides]
    data_version: int  # PRAGMA data_version before the plan began
    schema: int


def plan_before_lock(conn: sqlite3.Connection, request: MergeRequest) -> Planning:
    """The plan on the live database as it is now, with what `plan_still_holds` checks
    it against under the lock."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    schema = schema_version(conn)
    planned = plan_sides(conn, request)
    remember_planned_rows(conn, planned[1], planned[0])
    return Planning(planned, int(version), schema)
