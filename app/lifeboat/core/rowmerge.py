"""Bring back only what was lost: which rows of a past copy of a table a merge puts into
the live database (the plan), computed on one connection to the live database with the
past copy attached read-only as `past`.

The plan's sets are kept in the connection's temp table `lb_rows` (in memory: the
connection uses temp_store=MEMORY, so no decrypted value reaches a temp file outside the
run's scratch) for rowmerge_apply to write from: one row per key for a keyed table
(kind 'deleted' or 'changed'), one row per distinct whole row with its missing copies
`n` for a table without a key. A row to bring back that would break a UNIQUE index of
live gets its reason in `why` and is left out. rowmerge_schema says how rows match.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lifeboat.core.rowmerge_records import PARTIAL_TABLE, MergePlan, MergeRequest, RowSample
from lifeboat.core.rowmerge_refs import orphan_notes
from lifeboat.core.rowmerge_schema import (
    Fit,
    TableShape,
    check_fit,
    q,
    read_shape,
    removed_columns,
)
from lifeboat.core.sqlite_file import file_uri
from lifeboat.core.wal_reset import without_passive_checkpoints
from lifeboat.foundation.errors import ConfigError, LifeboatError, OperationFailed


def connect_merge(
    live: Path, past: Path, busy_timeout: float, *, read_only: bool = False
) -> sqlite3.Connection:
    """A connection on the live database (waiting up to `busy_timeout` seconds for the
    app's writers, never failing them), with the past copy attached read-only; a
    preview's opens the live database read-only too."""
    conn = connect_live(live, busy_timeout, read_only=read_only)
    try:
        attach_past(conn, past)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_live(live: Path, busy_timeout: float, *, read_only: bool = False) -> sqlite3.Connection:
    """The live database, never created if it is not there (a writing one never runs a
    PASSIVE checkpoint where Lifeboat's SQLite has the WAL-reset bug: core/wal_reset.py)."""
    uri = file_uri(live, mode="ro" if read_only else "rw")
    conn = sqlite3.connect(uri, timeout=busy_timeout, isolation_level=None, uri=True)
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn if read_only else without_passive_checkpoints(conn)


def attach_past(conn: sqlite3.Connection, past: Path) -> None:
    conn.execute("ATTACH DATABASE ? AS past", (file_uri(past, mode="ro"),))


class Sides:
    """The two shapes of the table and how past rows are written into live."""

    def __init__(self, conn: sqlite3.Connection, request: MergeRequest) -> None:
        past = read_shape(conn, "past", request.table)
        if past is None:
            raise LifeboatError(
                f"there was no table {request.table} then",
                "the tables then: " + ", ".join(_tables(conn, "past")),
            )
        self.past = past
        self.live = read_shape(conn, "main", request.live_table)
        if self.live is None and request.into is not None:
            raise LifeboatError(
                f"there is no table {request.into} now", "name a table the database has now"
            )
        self.where = request.where or "1"
        _check_where(conn, past.name, self.where)
        if self.live is None:
            self.fit = Fit(past.columns, (), ())
        else:
            self.fit = check_fit(past, self.live, request.drop_removed_columns)
            _refuse_lost_values(conn, self, request)
        self.key = past.key

    @property
    def past_rows(self) -> str:
        """The past rows the request is about, as a subquery."""
        return f"(SELECT * FROM past.{q(self.past.name)} WHERE ({self.where}))"

    @property
    def live_name(self) -> str:
        return f"main.{q(self.live.name if self.live else self.past.name)}"


def _tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]


def _check_where(conn: sqlite3.Connection, table: str, where: str) -> None:
    if ";" in where:
        raise ConfigError("--where takes one condition, not statements", "e.g. --where 'id > 5'")
    try:
        conn.execute(f"SELECT 1 FROM past.{q(table)} WHERE ({where}) LIMIT 0").fetchall()
    except sqlite3.Error as exc:
        raise ConfigError(
            f"--where does not fit table {table} as it was then: {exc}",
            "write a condition on its columns, e.g. --where 'id > 5'",
        ) from None


def _refuse_lost_values(conn: sqlite3.Connection, sides: Sides, request: MergeRequest) -> None:
    assert sides.live is not None
    removed = removed_columns(sides.past, sides.live)
    if not removed or request.drop_removed_columns:
        return
    held = " OR ".join(f"{q(c)} IS NOT NULL" for c in removed)
    (count,) = conn.execute(f"SELECT count(*) FROM {sides.past_rows} WHERE {held}").fetchone()
    if count:
        raise LifeboatError(
            f"column(s) {', '.join(removed)} of {sides.live.name} were removed since, and "
            f"{count} row(s) to bring back hold values there that would be lost",
            "add --drop-removed-columns to bring the rows back without them, or restore "
            "the point to a new file with --to PATH",
        )


def plan_merge(conn: sqlite3.Connection, request: MergeRequest) -> MergePlan:
    """The exact plan on the live database as it is now; fills temp.lb_rows."""
    return plan_sides(conn, request)[0]


def plan_sides(conn: sqlite3.Connection, request: MergeRequest) -> tuple[MergePlan, Sides]:
    """plan_merge, with the table's two sides (rowmerge_apply writes from both)."""
    try:
        return _plan_sides(conn, request)
    except sqlite3.Error as exc:  # e.g. a collation of the app's that SQLite needs here
        raise OperationFailed(
            f"table {request.table} cannot be compared here: {exc}; nothing was changed",
            "restore the whole point to a new file with --to PATH and copy what you need",
        ) from None


def _plan_sides(conn: sqlite3.Connection, request: MergeRequest) -> tuple[MergePlan, Sides]:
    sides = Sides(conn, request)
    conn.execute("DROP TABLE IF EXISTS temp.lb_rows")
    counts = _collect_keyed(conn, sides) if sides.key else _collect_whole_rows(conn, sides)
    brought = brought_kinds(request)
    if sides.live is not None:
        mark_conflicts(conn, sides, brought)
    deleted, changed, unchanged, added = counts
    c_deleted, c_changed = (_count(conn, sides, k, conflicted=True) for k in ("deleted", "changed"))
    overwrites = request.overwrites_changed
    plan = MergePlan(
        table=sides.past.name,
        live_table=sides.live.name if sides.live else sides.past.name,
        match=f"primary key ({', '.join(sides.key)})" if sides.key else "whole rows",
        deleted=deleted,
        changed=changed,
        unchanged=unchanged,
        added=added,
        to_insert=deleted - c_deleted if "deleted" in brought else 0,
        overwritten=changed - c_changed if overwrites else 0,
        skipped_changed=0 if overwrites else changed,
        conflicts=(c_deleted if "deleted" in brought else 0) + (c_changed if overwrites else 0),
        create_table=sides.live is None,
        triggers=sides.live.triggers if sides.live else (),
        notes=_notes(sides, request) + orphan_notes(conn, sides, brought),
        rows=_samples(conn, sides, request.show_rows) if request.show_rows > 0 else (),
    )
    return plan, sides


def brought_kinds(request: MergeRequest) -> tuple[str, ...]:
    kinds = () if request.mode == "changed" else ("deleted",)
    return kinds + (("changed",) if request.overwrites_changed else ())


def _key_match(left: str, right: str, key: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{q(k)} IS {right}.{q(k)}" for k in key)


def row_match(table: str, rows: str, key: tuple[str, ...]) -> str:
    """`table`'s row whose key is held by row `rows` of temp.lb_rows (columns k0, k1...)."""
    return " AND ".join(f"{table}.{q(k)} IS {rows}.k{i}" for i, k in enumerate(key))


def _collect_keyed(conn: sqlite3.Connection, sides: Sides) -> tuple[int, int, int, int]:
    key, live = sides.key, sides.live_name
    keys = ", ".join(f"k{i}" for i in range(len(key)))
    conn.execute(f"CREATE TEMP TABLE lb_rows(kind TEXT, why TEXT, {keys})")
    pick = ", ".join(f"p.{q(k)}" for k in key)
    if sides.live is None:
        conn.execute(
            f"INSERT INTO temp.lb_rows SELECT 'deleted', '', {pick} FROM {sides.past_rows} p"
        )
        total = _count(conn, sides, "deleted")
        return total, 0, 0, 0
    values = [c for c in sides.fit.columns if c not in key]
    differs = " OR ".join(f"p.{q(c)} IS NOT l.{q(c)}" for c in values) or "0"
    gone = _live_missing("l", sides.live)
    # One pass over the past rows: each is looked up in live once, by its key.
    conn.execute(
        f"INSERT INTO temp.lb_rows SELECT CASE WHEN {gone} THEN 'deleted' ELSE 'changed' "
        f"END, '', {pick} FROM {sides.past_rows} p "
        f"LEFT JOIN {live} l ON {_key_match('l', 'p', key)} WHERE {gone} OR ({differs})"
    )
    total = _past_total(conn, sides)
    deleted, changed = _count(conn, sides, "deleted"), _count(conn, sides, "changed")
    if sides.where == "1":  # every live row not added since matches a past row by key
        (live_total,) = conn.execute(f"SELECT count(*) FROM {live}").fetchone()
        added = live_total - (total - deleted)
    else:
        (added,) = conn.execute(
            f"SELECT count(*) FROM {_live_rows(conn, sides)} l WHERE NOT EXISTS "
            f"(SELECT 1 FROM past.{q(sides.past.name)} p WHERE {_key_match('p', 'l', key)})"
        ).fetchone()
    return deleted, changed, total - deleted - changed, added


def _past_total(conn: sqlite3.Connection, sides: Sides) -> int:
    """The past rows the request is about: counted, or, in a past that holds only the
    rows of the pages that changed (core/rowmerge_changed_rows: no --where), as it says."""
    marked = conn.execute(
        "SELECT 1 FROM past.sqlite_master WHERE type = 'table' AND name = ?", (PARTIAL_TABLE,)
    ).fetchone()
    if marked is not None:
        assert sides.where == "1", "a past of the changed rows only is written without --where"
        (total,) = conn.execute(f"SELECT past_rows FROM past.{q(PARTIAL_TABLE)}").fetchone()
        return int(total)
    (total,) = conn.execute(f"SELECT count(*) FROM {sides.past_rows}").fetchone()
    return int(total)


def _live_missing(alias: str, live: TableShape) -> str:
    """True for a row of a LEFT JOIN that found no live row: a WITHOUT ROWID table's key
    columns are NOT NULL, a rowid table's rowid is never NULL (by whichever of its names
    no column took)."""
    if live.without_rowid:
        return " AND ".join(f"{alias}.{q(k)} IS NULL" for k in live.key)
    taken = {c.lower() for c in live.columns}
    name = next((n for n in ("rowid", "_rowid_", "oid") if n not in taken), None)
    if name is None:  # all three are the app's columns: the key decides (NULL-free keys)
        return " AND ".join(f"{alias}.{q(k)} IS NULL" for k in live.key)
    return f"{alias}.{name} IS NULL"


def _live_rows(conn: sqlite3.Connection, sides: Sides) -> str:
    """The live rows the --where condition picks, if it can be read on live's columns."""
    rows = f"(SELECT * FROM {sides.live_name} WHERE ({sides.where}))"
    try:
        conn.execute(f"SELECT 1 FROM {rows} LIMIT 0").fetchall()
    except sqlite3.Error:
        return sides.live_name
    return rows


def _collect_whole_rows(conn: sqlite3.Connection, sides: Sides) -> tuple[int, int, int, int]:
    cols = sides.fit.columns
    names = ", ".join(f"c{i}" for i in range(len(cols)))
    conn.execute(f"CREATE TEMP TABLE lb_rows(kind TEXT, why TEXT, n INTEGER, {names})")
    aliased = ", ".join(f"{q(c)} AS c{i}" for i, c in enumerate(cols))
    past = f"(SELECT {aliased}, count(*) AS n FROM {sides.past_rows} GROUP BY {names})"
    if sides.live is None:
        conn.execute(f"INSERT INTO temp.lb_rows SELECT 'deleted', '', n, {names} FROM {past}")
        return _count(conn, sides, "deleted"), 0, 0, 0
    live = f"(SELECT {aliased}, count(*) AS n FROM {sides.live_name} GROUP BY {names})"
    same = " AND ".join(f"pg.c{i} IS lg.c{i}" for i in range(len(cols)))
    conn.execute(
        f"INSERT INTO temp.lb_rows SELECT 'deleted', '', pg.n - coalesce(lg.n, 0), "
        f"{', '.join(f'pg.c{i}' for i in range(len(cols)))} FROM {past} pg "
        f"LEFT JOIN {live} lg ON {same} WHERE pg.n > coalesce(lg.n, 0)"
    )
    (total,) = conn.execute(f"SELECT count(*) FROM {sides.past_rows}").fetchone()
    (live_total,) = conn.execute(f"SELECT count(*) FROM {sides.live_name}").fetchone()
    deleted = _count(conn, sides, "deleted")
    kept = total - deleted
    return deleted, 0, kept, max(0, live_total - kept)


def _count(conn: sqlite3.Connection, sides: Sides, kind: str, conflicted: bool = False) -> int:
    many = "n" if not sides.key else "1"
    why = "why != ''" if conflicted else "1"
    (count,) = conn.execute(
        f"SELECT coalesce(sum({many}), 0) FROM temp.lb_rows WHERE kind = ? AND {why}", (kind,)
    ).fetchone()
    return int(count)


def mark_conflicts(conn: sqlite3.Connection, sides: Sides, kinds: tuple[str, ...]) -> None:
    """Rows to bring back that hold the values of a UNIQUE index another live row holds
    now (NULLs never conflict, as in SQLite) get the index's name in `why`."""
    assert sides.live is not None
    marks = ", ".join("?" for _ in kinds) or "NULL"
    for index in sides.live.unique:
        if not set(index.columns) <= set(sides.fit.columns):
            continue
        if sides.key:
            same = " AND ".join(f"l.{q(c)} = p.{q(c)}" for c in index.columns)
            other = " OR ".join(f"l.{q(k)} IS NOT p.{q(k)}" for k in sides.key)
            held = (
                f"SELECT 1 FROM past.{q(sides.past.name)} p JOIN {sides.live_name} l ON {same} "
                f"WHERE {row_match('p', 'temp.lb_rows', sides.key)} AND ({other})"
            )
        else:
            at = {c: i for i, c in enumerate(sides.fit.columns)}
            same = " AND ".join(f"l.{q(c)} = temp.lb_rows.c{at[c]}" for c in index.columns)
            held = f"SELECT 1 FROM {sides.live_name} l WHERE {same}"
        conn.execute(
            f"UPDATE temp.lb_rows SET why = ? WHERE why = '' AND kind IN ({marks}) "
            f"AND EXISTS ({held})",
            (f"another row now holds its {', '.join(index.columns)} ({index.name})", *kinds),
        )


def _notes(sides: Sides, request: MergeRequest) -> tuple[str, ...]:
    notes = []
    if not sides.key:
        notes.append(
            f"{sides.past.name} has no primary key: rows are matched by their whole "
            "contents; a row changed since counts as its old version deleted (it comes back) "
            "and its new one added (kept)"
        )
    if sides.live is None:
        notes.append(
            f"there is no table {sides.past.name} now: it is created as it was then, with "
            f"its {len(sides.past.index_sql)} index(es); triggers are not re-created"
        )
    if sides.fit.defaulted:
        notes.append(f"column(s) added since get their defaults: {', '.join(sides.fit.defaulted)}")
    if sides.fit.dropped:
        notes.append(f"column(s) removed since are left out: {', '.join(sides.fit.dropped)}")
    if sides.live is not None and sides.live.triggers:
        notes.append(
            f"the app's trigger(s) {', '.join(sides.live.triggers)} fire for every row "
            "brought back, as if the app wrote it (SQLite cannot switch a trigger off "
            "without changing the app's schema; a trigger that needs the app's own "
            "functions fails here and nothing is changed)"
        )
    if request.mode == "changed" and not sides.key:
        notes.append("without a primary key no row counts as changed: nothing to put back")
    return tuple(notes)


def _samples(conn: sqlite3.Connection, sides: Sides, limit: int) -> tuple[RowSample, ...]:
    found: list[RowSample] = []
    cols = sides.fit.columns
    for kind in ("deleted", "changed"):
        if sides.key:
            rows = conn.execute(
                f"SELECT r.why, {', '.join(f'p.{q(c)}' for c in cols)} FROM temp.lb_rows r "
                f"JOIN past.{q(sides.past.name)} p ON {row_match('p', 'r', sides.key)} "
                "WHERE r.kind = ? LIMIT ?",
                (kind, limit),
            ).fetchall()
        else:
            names = ", ".join(f"c{i}" for i in range(len(cols)))
            rows = conn.execute(
                f"SELECT why, {names} FROM temp.lb_rows WHERE kind = ? LIMIT ?", (kind, limit)
            ).fetchall()
        for why, *values in rows:
            past = dict(zip(cols, values, strict=True))
            live = _live_row(conn, sides, past) if kind == "changed" else None
            found.append(RowSample("conflict" if why else kind, past, live, why))
    return tuple(found)


def _live_row(conn: sqlite3.Connection, sides: Sides, past: dict[str, object]) -> dict[str, object]:
    assert sides.live is not None
    match = " AND ".join(f"{q(k)} IS ?" for k in sides.key)
    row = conn.execute(
        f"SELECT {', '.join(q(c) for c in sides.live.columns)} FROM {sides.live_name} "
        f"WHERE {match}",
        [past[k] for k in sides.key],
    ).fetchone()
    return dict(zip(sides.live.columns, row, strict=True))


__all__ = [
    "Sides",
    "TableShape",
    "attach_past",
    "connect_live",
    "connect_merge",
    "plan_merge",
    "plan_sides",
    "row_match",
]
