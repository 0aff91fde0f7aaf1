"""A row merge's past written as a small database: the table as it was then (its CREATE
TABLE statement) holding only the rows of the snapshot pages that changed since
(core/rowmerge_changed proves every other row of it is in live, byte for byte), and the
one-row table `PARTIAL_TABLE` with how many rows the table held then (core/rowmerge
counts the rows unchanged and added from it: they are not in this file).

Rows are decoded from the snapshot's records (https://www.sqlite.org/fileformat2.html,
"Record Format"; core/history/btree) and inserted as SQLite would read them: a rowid
table's record holds its columns in order (an INTEGER PRIMARY KEY's place NULL: the rowid
is the value), a WITHOUT ROWID table's its key columns first; a record shorter than the
table (a column added since it was written) leaves the rest to their defaults, as SQLite
reads it; text keeps its exact bytes (CAST of the bytes, in a UTF-8 database only).

Only for a table with a declared key (a keyless one is matched by whole rows: every row
counts), no generated columns, no columns removed since, a UTF-8 database on both sides,
and when the changed pages are at most `CHANGED_SHARE` of the table's: else False, and
the caller reads the whole past.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.btree import (
    INDEX_KINDS,
    MALFORMED,
    TABLE_LEAF,
    PageFormatError,
    cells,
    field_value,
    kind,
    record_fields,
)
from lifeboat.core.history.tables import Pages, layout, payload, schema_records
from lifeboat.core.live_pass import PassShare
from lifeboat.core.point_pages import PointPages
from lifeboat.core.private import create_file
from lifeboat.core.rowmerge_changed import (
    ChangedPages,
    LivePages,
    LiveScan,
    PastPages,
    changed_pages,
    frozen_live,
    scan_live,
)
from lifeboat.core.rowmerge_records import PARTIAL_TABLE, MergeRequest
from lifeboat.core.rowmerge_schema import q
from lifeboat.foundation.progress import CancelToken

#: above this share of the table's pages changed, the whole past is read instead (its
#: rows are compared in SQLite's C, not decoded here)
CHANGED_SHARE = 0.25
_BATCH = 256
_STORED_GENERATED = 3  # PRAGMA table_xinfo's `hidden` for a stored generated column


@dataclass(frozen=True)
class SchemaRow:
    type: str
    name: str
    root: int
    sql: str
    table: str = ""  # tbl_name: the table an index is of


@dataclass(frozen=True)
class RowLayout:
    """Where each field of the table's records goes."""

    name: str
    sql: str
    columns: tuple[str, ...]  # in record order
    rowid_column: int | None  # the INTEGER PRIMARY KEY's place in the record
    index_tree: bool

    def names(self, fields: int) -> str:
        """The first `fields` columns, quoted, as an INSERT lists them."""
        return _quoted_names(self.columns[:fields])


def write_changed_rows(
    snapshot: PointPages,
    listed: bytes,
    live: Path,
    request: MergeRequest,
    out: Path,
    cancel: CancelToken,
    *,
    checkpoint: bool,
    share: PassShare | None = None,
) -> bool:
    """Write `out` (a new private file) with the rows of `request.table` on the snapshot's
    pages that differ from the live database `live` (its page-hash list `listed`); False,
    nothing left written, when that is not proven to be enough here. `share`: the pass
    over the live file a safety snapshot makes beside this (core/live_pass.py)."""
    if request.where is not None:
        return False  # the plan's counts need every past row the condition picks
    with frozen_live(live, checkpoint=checkpoint) as frozen:
        if frozen is None or frozen.page_size != snapshot.page_size:
            return False
        live_pages = LivePages(frozen)
        scan = scan_live(frozen, listed, snapshot.page_count, cancel, share)
        past = PastPages(snapshot, live_pages, scan.differing)
        try:
            return _write(past, live_pages, scan, request, out)
        except MALFORMED:
            out.unlink(missing_ok=True)  # this call's own work, incomplete
            return False


def _write(
    past: PastPages, live: LivePages, scan: LiveScan, request: MergeRequest, out: Path
) -> bool:
    then = _table(schema_rows(past), request.table)
    live_schema = schema_rows(live)
    now = _table(live_schema, request.live_table)
    if then is None or now is None or not _utf8(past) or not _utf8(live):
        return False
    index_tree = kind(past.pages([then.root])[then.root], then.root) in INDEX_KINDS
    shape = record_layout(then, now, index_tree)
    if shape is None:
        return False
    roots = _walk_order(live_schema, now.name)
    changed = changed_pages(past, live, scan, (then.root, now.root), roots)
    if changed is None or len(changed.pages) > CHANGED_SHARE * changed.row_pages:
        return False
    fd = create_file(out)
    os.close(fd)
    try:
        _fill(sqlite3.connect(out, isolation_level=None), shape, past, changed, index_tree)
    except sqlite3.Error:
        out.unlink(missing_ok=True)  # e.g. a CHECK that calls the app's own function
        return False
    return True


def _fill(
    conn: sqlite3.Connection,
    shape: RowLayout,
    past: PastPages,
    changed: ChangedPages,
    index_tree: bool,
) -> None:
    """The table then with the rows of the changed pages, and how many rows it held;
    the connection closed in any case (a page that is not what it seemed: the caller
    removes the file)."""
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file, read once
        conn.execute(shape.sql)
        conn.execute(f"CREATE TABLE {q(PARTIAL_TABLE)} (past_rows INTEGER NOT NULL)")
        conn.execute("BEGIN")
        written = sum(
            _insert(conn, shape, key, fields)
            for key, fields in _rows(past, changed.pages, index_tree)
        )
        conn.execute(
            f"INSERT INTO {q(PARTIAL_TABLE)} VALUES (?)", (changed.unchanged_rows + written,)
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def schema_rows(state: Pages) -> list[SchemaRow]:
    """The rows of the schema table (sqlite_schema) read from the pages."""
    found = []
    for values in schema_records(state):
        if not isinstance(values[3], int):
            continue
        sql = values[4] if isinstance(values[4], str) else ""
        found.append(SchemaRow(str(values[0]), str(values[1]), values[3], sql, str(values[2])))
    return found


def _walk_order(rows: list[SchemaRow], table: str) -> list[int]:
    """The roots of live's b-trees in the order they are walked to account for the pages
    that differ (core/rowmerge_changed): the schema's, then the table's own indexes (the
    rows that changed changed them too), then the rest; the walk stops once every
    differing page is accounted for, so a big other table is mostly not walked."""
    own = [r.root for r in rows if r.root > 0 and r.type == "index" and r.table == table]
    rest = [r.root for r in rows if r.root > 0 and r.root not in own]
    return [1, *own, *rest]


@functools.lru_cache(maxsize=64)
def _quoted_names(columns: tuple[str, ...]) -> str:
    return ", ".join(q(c) for c in columns)  # once per record length, not per row


def _table(rows: list[SchemaRow], name: str) -> SchemaRow | None:
    """The table `name` (matched as SQLite matches names); None for SQLite's own, a
    virtual table, or ours."""
    wanted = name.lower()
    if wanted.startswith("sqlite_") or wanted == PARTIAL_TABLE:
        return None
    for row in rows:
        if row.type == "table" and row.name.lower() == wanted and row.root > 0 and row.sql:
            return row
    return None


def _utf8(state: Pages) -> bool:
    return layout(state).encoding == "utf-8"


def record_layout(then: SchemaRow, now: SchemaRow, index_tree: bool) -> RowLayout | None:
    """How the past table's records map to its columns; None when this path does not
    serve it (no declared key, generated columns, a column removed since, SQL that
    cannot be read here, or live reading a record's fields as other columns)."""
    info, live = _columns_of(then), _columns_of(now)
    if info is None or live is None or any(c.hidden for c in info):
        return None
    if any(c.hidden == _STORED_GENERATED for c in live):
        return None  # its fields are in the records too, and nothing writes them
    past_order, live_order = _record_order(info, index_tree), _record_order(live, index_tree)
    if past_order is None or live_order is None:
        return None  # matched by whole rows: every row counts
    columns, place = past_order
    # A page whose bytes live shares holds rows live holds only if live reads each field
    # as the same column: two columns renamed into each other's names change no page
    # (columns added since come after the past's, their fields absent from old records)
    if [c.lower() for c in columns] != [c.lower() for c in live_order[0][: len(columns)]]:
        return None
    if place != live_order[1] or not _read_alike(info, live):
        return None
    return RowLayout(then.name, then.sql, columns, place, index_tree)


def _read_alike(then: list[_Column], now: list[_Column]) -> bool:
    """Whether live reads a record the past wrote as the past reads it: each column of
    the same type (a REAL one reads a whole number stored as an integer as a float) and
    default (what a record written before the column was added reads: a column dropped
    and added again with another default rewrites no record that lacked it)."""
    live = {c.name.lower(): c for c in now}
    return all(
        (c.type.upper(), c.default)
        == (live[c.name.lower()].type.upper(), live[c.name.lower()].default)
        for c in then
    )


def _record_order(
    info: list[_Column], index_tree: bool
) -> tuple[tuple[str, ...], int | None] | None:
    """The columns in the order a record holds their fields, and the INTEGER PRIMARY
    KEY's place (a rowid table's); None for a table without a declared key."""
    key = sorted((c for c in info if c.key), key=lambda c: c.key)
    if not key:
        return None
    columns = tuple(c.name for c in info if not c.hidden)  # a virtual column has no field
    if index_tree:
        keyed = tuple(c.name for c in key)
        return keyed + tuple(c for c in columns if c not in keyed), None
    alias = len(key) == 1 and key[0].type.upper() == "INTEGER"
    return columns, (columns.index(key[0].name) if alias else None)


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    key: int  # its place in the primary key (1-based), 0: not in it
    hidden: int  # a generated column (or a virtual table's hidden one)
    default: str | None  # its DEFAULT as written (PRAGMA table_xinfo's dflt_value)


def _columns_of(table: SchemaRow) -> list[_Column] | None:
    """The table's columns, from its SQL alone (None: SQL that cannot be read here, e.g.
    with a collation of the app's)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(table.sql)
        info = conn.execute(f"PRAGMA table_xinfo({q(table.name)})").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return [_Column(str(r[1]), str(r[2]), int(r[5]), int(r[6]), r[4]) for r in info]


def _rows(
    past: PastPages, pages: list[int], index_tree: bool
) -> Iterator[tuple[int, list[tuple[int, bytes]]]]:
    """(rowid, record fields) of every cell of `pages` (rowid 0 in a WITHOUT ROWID table)."""
    usable = layout(past).usable
    for start in range(0, len(pages), _BATCH):
        for number, image in past.pages(pages[start : start + _BATCH]).items():
            page_kind = kind(image, number)
            if (page_kind in INDEX_KINDS) != index_tree or (
                not index_tree and page_kind != TABLE_LEAF
            ):
                raise PageFormatError(f"page {number} is not a page of the table it was listed in")
            for cell in cells(image, number, usable):
                yield cell.key, record_fields(payload(past, cell, usable))


def _insert(
    conn: sqlite3.Connection, shape: RowLayout, rowid: int, fields: list[tuple[int, bytes]]
) -> int:
    if len(fields) > len(shape.columns):
        raise PageFormatError(f"a record of {shape.name} has more fields than its columns")
    marks: list[str] = []
    values: list[object] = []
    for at, (serial, data) in enumerate(fields):
        if serial >= 13 and serial % 2:  # text: its exact bytes
            marks.append("CAST(? AS TEXT)")
            values.append(bytes(data))
            continue
        value = field_value(serial, data, "utf-8")
        if at == shape.rowid_column and value is None:
            value = rowid  # an INTEGER PRIMARY KEY is the rowid
        marks.append("?")
        values.append(value)
    names = shape.names(len(fields))
    conn.execute(f"INSERT INTO {q(shape.name)} ({names}) VALUES ({', '.join(marks)})", values)
    return 1
