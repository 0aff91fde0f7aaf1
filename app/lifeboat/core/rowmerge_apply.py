"""Write a row merge's plan into the live database, inside the caller's BEGIN IMMEDIATE
transaction: the plan is computed again there (what the user confirmed must still be
what happens), the rows are inserted and updated, and foreign keys are checked with
PRAGMA foreign_key_check before the caller commits. Any failure raises; the caller rolls
back, so nothing of a refused merge reaches the database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from lifeboat.core.rowmerge import Sides, plan_sides, row_match
from lifeboat.core.rowmerge_records import MergePlan, MergeRequest
from lifeboat.core.rowmerge_schema import q
from lifeboat.foundation.errors import LifeboatError, OperationFailed

_HINT = "restore the whole point to a new file with --to PATH and copy what you need"


def apply_merge(
    conn: sqlite3.Connection,
    request: MergeRequest,
    confirmed: MergePlan | None,
    planned: tuple[MergePlan, Sides] | None = None,
) -> tuple[MergePlan, int, int]:
    """The plan, the rows inserted and the rows updated. `planned`: the plan made on
    this connection before its transaction began, when the caller proved (PRAGMA
    data_version) that no other connection committed since: it still holds."""
    plan, sides = planned or plan_sides(conn, replace(request, show_rows=0))
    if confirmed is not None and not plan.same_counts(confirmed):
        raise LifeboatError(
            f"{plan.live_table} changed since the preview: {plan.to_insert} row(s) to bring "
            f"back and {plan.overwritten} to put back now, {confirmed.to_insert} and "
            f"{confirmed.overwritten} then; nothing was changed",
            "look at the preview again, then confirm",
        )
    checked = _checked_tables(conn, sides, plan.overwritten > 0)
    before = set() if plan.create_table else _violations(conn, checked)
    try:
        if plan.create_table:
            for sql in (sides.past.sql, *sides.past.index_sql):
                conn.execute(sql)
        inserted = _insert(conn, sides) if plan.to_insert else 0
        updated = _update(conn, sides) if plan.overwritten else 0
    except sqlite3.Error as exc:
        raise OperationFailed(
            f"the database refused the merge into {plan.live_table}: {exc}; nothing was changed",
            _HINT,
        ) from None
    _refuse_broken_references(conn, plan, checked, before)
    return plan, inserted, updated


def _insert(conn: sqlite3.Connection, sides: Sides) -> int:
    cols = sides.fit.columns
    target = f"{sides.live_name} ({', '.join(q(c) for c in cols)})"
    if sides.key:
        conn.execute(
            f"INSERT INTO {target} SELECT {', '.join(f'p.{q(c)}' for c in cols)} "
            f"FROM temp.lb_rows r JOIN past.{q(sides.past.name)} p "
            f"ON {row_match('p', 'r', sides.key)} WHERE r.kind = 'deleted' AND r.why = ''"
        )
    else:
        conn.execute(
            "WITH RECURSIVE copies(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM copies "
            "WHERE i < (SELECT coalesce(max(n), 0) FROM temp.lb_rows)) "
            f"INSERT INTO {target} SELECT {', '.join(f'r.c{i}' for i in range(len(cols)))} "
            "FROM temp.lb_rows r JOIN copies ON copies.i <= r.n "
            "WHERE r.kind = 'deleted' AND r.why = ''"
        )
    # The rows this statement wrote (its triggers' rows not counted).
    return int(conn.execute("SELECT changes()").fetchone()[0])


def _update(conn: sqlite3.Connection, sides: Sides) -> int:
    key = sides.key
    values = [c for c in sides.fit.columns if c not in key]
    if not values:
        return 0
    match = " AND ".join(f"{q(k)} IS ?" for k in key)
    past_match = " AND ".join(f"p.{q(k)} IS ?" for k in key)
    keys = conn.execute(
        f"SELECT {', '.join(f'k{i}' for i in range(len(key)))} FROM temp.lb_rows "
        "WHERE kind = 'changed' AND why = ''"
    ).fetchall()
    cursor = conn.executemany(
        f"UPDATE {sides.live_name} SET ({', '.join(q(c) for c in values)}) = "
        f"(SELECT {', '.join(f'p.{q(c)}' for c in values)} FROM past.{q(sides.past.name)} p "
        f"WHERE {past_match}) WHERE {match}",
        [(*k, *k) for k in keys],
    )
    return max(cursor.rowcount, 0)


def _checked_tables(conn: sqlite3.Connection, sides: Sides, updates: bool) -> list[str]:
    """The live table as a child; when rows are updated, the tables that refer to it too
    (an updated column may be the one a child row points at)."""
    name = sides.live.name if sides.live else sides.past.name
    tables = [name]
    if updates:
        for (other,) in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name != ?", (name,)
        ).fetchall():
            parents = conn.execute(f"PRAGMA main.foreign_key_list({q(other)})").fetchall()
            if any(r[2] == name for r in parents):
                tables.append(other)
    return tables


def _violations(conn: sqlite3.Connection, tables: list[str]) -> set[tuple[object, ...]]:
    found: set[tuple[object, ...]] = set()
    for table in tables:
        found.update(tuple(r) for r in conn.execute(f"PRAGMA main.foreign_key_check({q(table)})"))
    return found


def _refuse_broken_references(
    conn: sqlite3.Connection, plan: MergePlan, tables: list[str], before: set[tuple[object, ...]]
) -> None:
    """Foreign keys the merge would break (ones broken before it are the app's own)."""
    new = sorted(_violations(conn, tables) - before, key=repr)
    if not new:
        return
    parents = sorted({str(v[2]) for v in new})
    named = ", ".join(f"{v[0]} row {v[1]}" for v in new[:5]) + (" ..." if len(new) > 5 else "")
    raise OperationFailed(
        f"{len(new)} row(s) would refer to rows that {', '.join(parents)} no longer has "
        f"({named}); nothing was changed",
        f"bring back the rows of {parents[0]} first (restore ... --table {parents[0]}), "
        f"or narrow --where",
    )
