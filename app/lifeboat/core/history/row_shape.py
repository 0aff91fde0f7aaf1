"""What a table's rows look like, read from its CREATE statement: the columns a record
holds in order, the values of columns added since a row was written, and the key that
finds one row (the rowid, the INTEGER PRIMARY KEY, or the PRIMARY KEY of a WITHOUT
ROWID table or held by an index).

The statement is run in a private in-memory SQLite database so that SQLite itself says
which columns are stored, in which order, with which affinity, collation and direction:
nothing is parsed here.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from dataclasses import dataclass

from lifeboat.core.history.btree import (
    INDEX_KINDS,
    kind,
)
from lifeboat.core.history.tables import Pages, layout, schema_records


class ShapeUnknown(ValueError):
    """The table's definition cannot be read here."""


@dataclass(frozen=True)
class SchemaEntry:
    type: str
    name: str
    table: str
    root: int
    sql: str


@dataclass(frozen=True)
class RowShape:
    table: str
    root: int
    without_rowid: bool
    columns: tuple[str, ...]  # the stored columns, in the order a record holds them
    defaults: tuple[object, ...]  # what a record too short to hold a column means
    alias: int | None  # the INTEGER PRIMARY KEY's place (stored as NULL: the rowid)
    key: tuple[str, ...]  # the primary key's columns; () when rows are found by rowid
    key_types: tuple[str, ...]  # their declared types (affinity of a typed-in key)
    descending: tuple[bool, ...]  # per key column: kept in descending order
    key_root: int  # the index holding a rowid table's non-integer primary key (0: none)
    ordered: bool  # keys compare here as SQLite orders them (else: scan the tree)


def schema_entries(state: Pages) -> dict[str, SchemaEntry]:
    """Every entry of sqlite_schema with a b-tree (tables and indexes), by name."""
    found: dict[str, SchemaEntry] = {}
    for values in schema_records(state):
        if not isinstance(values[3], int) or values[3] <= 0:
            continue
        sql = values[4] if isinstance(values[4], str) else ""
        found[str(values[1])] = SchemaEntry(
            str(values[0]), str(values[1]), str(values[2]), values[3], sql
        )
    return found


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_shape(state: Pages, entries: dict[str, SchemaEntry], table: str) -> RowShape | None:
    """The shape of `table` in this state (None: no such table; its name is matched
    without regard to case, as SQLite does)."""
    entry = entries.get(table) or next(
        (e for e in entries.values() if e.name.lower() == table.lower() and e.type == "table"),
        None,
    )
    if entry is None or entry.type != "table":
        return None
    root_image = state.pages([entry.root]).get(entry.root)
    without_rowid = root_image is not None and kind(root_image, entry.root) in INDEX_KINDS
    utf8 = layout(state).encoding == "utf-8"
    indexes = tuple(e for e in entries.values() if e.type == "index" and e.table == entry.name)
    return _shape(entry, without_rowid, utf8, indexes)


@functools.lru_cache(maxsize=64)
def _shape(
    entry: SchemaEntry, without_rowid: bool, utf8: bool, indexes: tuple[SchemaEntry, ...]
) -> RowShape:
    """The shape a table's definition gives (the same for every point that has it: a
    history looks a row up at many points, SQLite asked once)."""
    conn = sqlite3.connect(":memory:")
    try:
        table = entry.name
        try:
            conn.execute(entry.sql)
        except sqlite3.Error as exc:
            raise ShapeUnknown(f"table {table}'s definition cannot be read here ({exc})") from None
        q = _quoted(table)
        info = [r for r in conn.execute(f"pragma table_xinfo({q})") if r[6] not in (1, 2)]
        types = {r[1]: str(r[2] or "") for r in info}
        pk_index = next(
            (r[1] for r in conn.execute(f"pragma index_list({q})") if r[3] == "pk"), None
        )
        order = [r[1] for r in info]
        key, descending, collations = _key_columns(conn, pk_index)
        if without_rowid and pk_index is not None:
            order = [r[2] for r in conn.execute(f"pragma index_xinfo({_quoted(pk_index)})")]
            order = [c for c in order if c in types]
        by_name = {r[1]: r for r in info}
        defaults = tuple(_default(conn, by_name[c][4]) for c in order)
        alias = _rowid_alias(conn, q, info) if not without_rowid else None
        key_root = 0
        if not without_rowid and key and alias is None:
            key_root = next((i.root for i in indexes if i.name == pk_index), 0)
        if alias is not None:
            key = ()
        ordered = utf8 and all(c.upper() == "BINARY" for c in collations)
        return RowShape(
            table, entry.root, without_rowid, tuple(order), defaults,
            alias if alias is None else order.index(alias), key,
            tuple(types.get(c, "") for c in key), descending, key_root, ordered,
        )  # fmt: skip
    finally:
        conn.close()


def _key_columns(
    conn: sqlite3.Connection, pk_index: str | None
) -> tuple[tuple[str, ...], tuple[bool, ...], list[str]]:
    if pk_index is None:
        return (), (), []
    rows = [r for r in conn.execute(f"pragma index_xinfo({_quoted(pk_index)})") if r[5]]
    return tuple(r[2] for r in rows), tuple(bool(r[3]) for r in rows), [r[4] for r in rows]


def _rowid_alias(conn: sqlite3.Connection, quoted: str, info: list[tuple]) -> str | None:
    """The INTEGER PRIMARY KEY column, which is the rowid itself (None: no such)."""
    pk = [r for r in info if r[5]]
    if len(pk) != 1 or str(pk[0][2]).upper() != "INTEGER":
        return None
    # "INTEGER PRIMARY KEY DESC" is not an alias: SQLite then keeps an index for it.
    if any(r[3] == "pk" for r in conn.execute(f"pragma index_list({quoted})")):
        return None
    return str(pk[0][1])


def _default(conn: sqlite3.Connection, expression: str | None) -> object:
    if expression is None:
        return None
    with contextlib.suppress(sqlite3.Error):
        return conn.execute(f"select {expression}").fetchone()[0]
    return None


def typed_key(shape: RowShape, given: dict[str, str]) -> tuple[object, ...]:
    """The key typed on the command line as the values SQLite stores (the key columns'
    affinity applied, as an INSERT would)."""
    conn = sqlite3.connect(":memory:")
    try:
        values: list[object] = []
        for i, (column, declared) in enumerate(zip(shape.key, shape.key_types, strict=True)):
            text = given[column]
            try:
                conn.execute(f"create table k{i}(v {declared})")
            except sqlite3.Error:
                conn.execute(f"create table k{i}(v)")
            conn.execute(f"insert into k{i} values (?)", (text,))
            values.append(conn.execute(f"select v from k{i}").fetchone()[0])
        return tuple(values)
    finally:
        conn.close()
