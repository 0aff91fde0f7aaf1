"""The shape of a table on each side of a row merge, and whether the past rows fit the
live table.

How rows are matched (the identity rule): by the table's declared PRIMARY KEY (one
column or several, in a rowid table or a WITHOUT ROWID one). A rowid is never used as
identity unless it is declared (an INTEGER PRIMARY KEY): SQLite reuses the rowids of
deleted rows and VACUUM renumbers undeclared ones, so the same rowid in the past and
now may be two different rows. A table with no declared key is matched by whole rows, as
multisets: a row counts as deleted when the past held more copies of exactly those values
than live does now; a changed row then shows as its old version deleted (it comes back)
and its new one added (kept).

Compatibility: columns are matched by name. A column added since is filled by its
default when a row is brought back (refused if it is NOT NULL without a default); a
column removed since is refused unless the rows to bring back hold NULL there, or the
user says to drop it (`drop_removed_columns`). A different primary key is refused.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from lifeboat.foundation.errors import LifeboatError

_WITHOUT_ROWID = re.compile(r"\bwithout\s+rowid\b", re.IGNORECASE)


def q(identifier: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class UniqueIndex:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str | None, ...]


@dataclass(frozen=True)
class TableShape:
    name: str
    sql: str
    columns: tuple[str, ...]  # the ones a row is written with (no generated columns)
    required: frozenset[str]  # NOT NULL without a default
    key: tuple[str, ...]  # the declared primary key, in key order; () = none
    without_rowid: bool
    unique: tuple[UniqueIndex, ...]
    foreign_keys: tuple[ForeignKey, ...]
    triggers: tuple[str, ...]
    index_sql: tuple[str, ...]


def read_shape(conn: sqlite3.Connection, schema: str, table: str) -> TableShape | None:
    """The table `table` of attached database `schema` (None if it has no such table)."""
    row = conn.execute(
        f"SELECT name, sql FROM {q(schema)}.sqlite_master WHERE type = 'table' "
        "AND name = ? COLLATE NOCASE",
        (table,),
    ).fetchone()
    if row is None:
        return None
    name, sql = row
    if name.lower().startswith("sqlite_"):
        raise LifeboatError(
            f"{name} is SQLite's own table: it is kept by SQLite, not merged",
            "name one of the app's tables",
        )
    if sql is None or sql.lstrip().upper().startswith("CREATE VIRTUAL"):
        raise LifeboatError(
            f"table {name} is a virtual table (a full-text index, say): its rows cannot be merged",
            "restore the whole database to a new file with --to PATH",
        )
    info = conn.execute(f"PRAGMA {q(schema)}.table_info({q(name)})").fetchall()
    columns = tuple(r[1] for r in info)
    required = frozenset(r[1] for r in info if r[3] and r[4] is None and r[5] == 0)
    key = tuple(r[1] for r in sorted((r for r in info if r[5] > 0), key=lambda r: r[5]))
    return TableShape(
        name=name,
        sql=sql,
        columns=columns,
        required=required,
        key=key,
        without_rowid=bool(_WITHOUT_ROWID.search(sql)),
        unique=_unique_indexes(conn, schema, name, key),
        foreign_keys=_foreign_keys(conn, schema, name),
        triggers=tuple(
            r[0]
            for r in conn.execute(
                f"SELECT name FROM {q(schema)}.sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = ? ORDER BY name",
                (name,),
            )
        ),
        index_sql=tuple(
            r[0]
            for r in conn.execute(
                f"SELECT sql FROM {q(schema)}.sqlite_master WHERE type = 'index' "
                "AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
                (name,),
            )
        ),
    )


def _unique_indexes(
    conn: sqlite3.Connection, schema: str, table: str, key: tuple[str, ...]
) -> tuple[UniqueIndex, ...]:
    """The full (not partial) UNIQUE indexes on plain columns, other than the key's own.
    One on an expression or a partial one is still enforced by SQLite when the merge
    writes: such a conflict rolls the whole merge back, named."""
    found = []
    for _seq, name, unique, _origin, partial in conn.execute(
        f"PRAGMA {q(schema)}.index_list({q(table)})"
    ).fetchall():
        if not unique or partial:
            continue
        cols = tuple(r[2] for r in conn.execute(f"PRAGMA {q(schema)}.index_info({q(name)})"))
        if any(c is None for c in cols) or set(cols) == set(key):
            continue
        found.append(UniqueIndex(name, cols))
    return tuple(found)


def _foreign_keys(conn: sqlite3.Connection, schema: str, table: str) -> tuple[ForeignKey, ...]:
    by_id: dict[int, list[tuple[str, str, str | None]]] = {}
    for fk_id, _seq, parent, child, parent_col, *_ in conn.execute(
        f"PRAGMA {q(schema)}.foreign_key_list({q(table)})"
    ).fetchall():
        by_id.setdefault(fk_id, []).append((parent, child, parent_col))
    return tuple(
        ForeignKey(parts[0][0], tuple(p[1] for p in parts), tuple(p[2] for p in parts))
        for parts in by_id.values()
    )


@dataclass(frozen=True)
class Fit:
    """How the past rows are written into live: the columns written, the ones left to
    their defaults, the ones dropped (each said in the preview)."""

    columns: tuple[str, ...]
    defaulted: tuple[str, ...]
    dropped: tuple[str, ...]


def check_fit(past: TableShape, live: TableShape, drop_removed: bool) -> Fit:
    """Whether the past table's rows can go into the live table; a LifeboatError with
    the reason if not (the NULL-only test for removed columns is the planner's)."""
    if past.key != live.key:
        raise LifeboatError(
            f"the primary key of {live.name} changed since: ({', '.join(past.key) or 'none'}) "
            f"then, ({', '.join(live.key) or 'none'}) now; rows cannot be matched",
            "restore the whole point to a new file with --to PATH and copy what you need",
        )
    removed = tuple(c for c in past.columns if c not in live.columns)
    added = tuple(c for c in live.columns if c not in past.columns)
    required = sorted(c for c in added if c in live.required)
    if required:
        raise LifeboatError(
            f"{live.name} has new column(s) {', '.join(required)} that need a value "
            "(NOT NULL, no default): the past rows have none",
            "restore the whole point to a new file with --to PATH and copy what you need",
        )
    written = tuple(c for c in past.columns if c in live.columns)
    return Fit(written, added, removed if drop_removed else ())


def removed_columns(past: TableShape, live: TableShape) -> tuple[str, ...]:
    return tuple(c for c in past.columns if c not in live.columns)
