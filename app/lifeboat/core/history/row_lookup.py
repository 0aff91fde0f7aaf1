"""Find one row of a table in a database state, reading only the pages on its way.

The row is looked up as SQLite would: from the table's root down to the leaf that holds
(or would hold) its key, a few pages; a payload too long for its page is read through
its overflow pages. Every page read is remembered (`watched`): as long as none of them
changes, the lookup gives the same answer, so a later state where none of them was
written needs no lookup at all (row_points.py).

Keys: the rowid (or INTEGER PRIMARY KEY); a WITHOUT ROWID table's PRIMARY KEY (its
rows are an index b-tree's cells, on interior pages too); a rowid table's other
PRIMARY KEY through the index SQLite keeps for it (its entries end with the rowid).
Keys compared with a collation other than BINARY, or in a UTF-16 database, are found by
reading the whole tree (correct, only slower).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lifeboat.core.history.btree import (
    INDEX_INTERIOR,
    INDEX_KINDS,
    INDEX_LEAF,
    MALFORMED,
    TABLE_INTERIOR,
    TABLE_LEAF,
    Cell,
    cells,
    field_value,
    kind,
    record_fields,
    right_child,
)
from lifeboat.core.history.row_shape import RowShape, row_shape, schema_entries, typed_key
from lifeboat.core.history.tables import Layout, Pages, layout, payload, tree_pages

_MAX_DEPTH = 40


class RecordingPages:
    """A state whose page reads are remembered."""

    def __init__(self, state: Pages) -> None:
        self.state = state
        self.page_count = state.page_count
        self.read: set[int] = set()

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        wanted = list(wanted)
        self.read.update(wanted)
        return self.state.pages(wanted, interior=interior)


@dataclass(frozen=True)
class KeySpec:
    """A row's key as typed: the rowid, or values by column (one unnamed value: the
    key's only column)."""

    rowid: int | None = None
    values: tuple[tuple[str | None, str], ...] = ()


@dataclass(frozen=True)
class RowRead:
    exists: bool  # the table exists in this state
    values: dict[str, object] | None  # the row (None: not there)
    watched: frozenset[int]  # the pages the answer depends on
    page_count: int


class KeyMismatch(ValueError):
    """The key typed does not fit the table's key."""


def read_row(state: Pages, table: str, key: KeySpec) -> RowRead:
    """The row of `table` with `key` in `state` and the pages that answer rests on."""
    seen = RecordingPages(state)
    entries = schema_entries(seen)
    shape = row_shape(seen, entries, table)
    if shape is None:
        return RowRead(False, None, frozenset(seen.read), state.page_count)
    try:
        values = _find(seen, layout(seen), shape, key)
    except MALFORMED:
        values = None  # a damaged path reads as no row; the pages stay watched
    return RowRead(True, values, frozenset(seen.read), state.page_count)


def _find(state: Pages, shape: Layout, table: RowShape, key: KeySpec) -> dict[str, object] | None:
    if not table.without_rowid and (key.rowid is not None or not table.key):
        rowid = key.rowid if key.rowid is not None else _rowid_of(table, key)
        return _rowid_row(state, shape, table, rowid)
    wanted = typed_key(table, _by_column(table, key))
    if table.without_rowid:
        record = _index_find(state, shape, table, table.root, wanted)
        return None if record is None else _decoded(table, record, 0)
    found = _index_find(state, shape, table, table.key_root, wanted) if table.key_root else None
    if found is None or not isinstance(found[-1], int):
        return None
    return _rowid_row(state, shape, table, found[-1])


def _rowid_of(table: RowShape, key: KeySpec) -> int:
    names = {None, "rowid"}
    if table.alias is not None:
        names.add(table.columns[table.alias])
    if len(key.values) != 1 or key.values[0][0] not in names:
        raise KeyMismatch(f"table {table.table}'s rows are found by rowid: give one number")
    try:
        return int(key.values[0][1])
    except ValueError:
        raise KeyMismatch("this table's rows are found by rowid: give a whole number") from None


def _by_column(table: RowShape, key: KeySpec) -> dict[str, str]:
    if len(key.values) == 1 and key.values[0][0] is None and len(table.key) == 1:
        return {table.key[0]: key.values[0][1]}
    given = {str(column): value for column, value in key.values}
    if None in (column for column, _ in key.values) or set(given) != set(table.key):
        names = " ".join(f"--key {c}=..." for c in table.key)
        raise KeyMismatch(f"table {table.table}'s key is ({', '.join(table.key)}): give {names}")
    return given


def _rowid_row(
    state: Pages, shape: Layout, table: RowShape, rowid: int
) -> dict[str, object] | None:
    number = table.root
    for _ in range(_MAX_DEPTH):
        image = state.pages([number]).get(number)
        if image is None:
            return None
        page_kind = kind(image, number)
        if page_kind == TABLE_LEAF:
            for cell in cells(image, number, shape.usable):
                if cell.key == rowid:
                    return _decoded(table, _record(state, shape, cell), rowid)
            return None
        if page_kind != TABLE_INTERIOR:
            return None
        listed = list(cells(image, number, shape.usable))
        at = bisect.bisect_left([c.key for c in listed], rowid)
        number = listed[at].child if at < len(listed) else right_child(image, number)
    return None


def _record(state: Pages, shape: Layout, cell: Cell) -> list[object]:
    fields = record_fields(payload(state, cell, shape.usable))
    return [field_value(s, d, shape.encoding) for s, d in fields]


def _decoded(table: RowShape, record: list[object], rowid: int) -> dict[str, object]:
    row = {}
    for i, column in enumerate(table.columns):
        row[column] = record[i] if i < len(record) else table.defaults[i]
    if table.alias is not None:
        row[table.columns[table.alias]] = rowid
    return row


def _index_find(
    state: Pages, shape: Layout, table: RowShape, root: int, wanted: tuple[object, ...]
) -> list[object] | None:
    """The record of the index b-tree at `root` whose leading fields are `wanted`."""
    width = len(wanted)
    if not table.ordered:
        for number, image in tree_pages(state, root).items():
            if kind(image, number) in INDEX_KINDS:
                for cell in cells(image, number, shape.usable):
                    record = _record(state, shape, cell)
                    if tuple(record[:width]) == wanted:
                        return record
        return None
    number = root
    for _ in range(_MAX_DEPTH):
        found = state.pages([number]).get(number)
        if found is None or kind(found, number) not in (INDEX_LEAF, INDEX_INTERIOR):
            return None
        image = found
        below = right_child(image, number) if kind(image, number) == INDEX_INTERIOR else 0
        for cell in cells(image, number, shape.usable):
            record = _record(state, shape, cell)
            order = compare(tuple(record[:width]), wanted, table.descending)
            if order == 0:
                return record
            if order > 0:
                below = cell.child
                break
        if not below:
            return None
        number = below
    return None


def _rank(value: object) -> tuple[int, object]:
    """SQLite's order of values: NULL, numbers, text, blobs."""
    if value is None:
        return 0, 0
    if isinstance(value, int | float):
        return 1, value
    if isinstance(value, str):
        return 2, value
    return 3, value if isinstance(value, bytes) else repr(value)


def _less(a: Any, b: Any) -> bool:
    """Ranked values compare within a rank (numbers, text or bytes)."""
    return bool(a < b)


def compare(a: tuple[object, ...], b: tuple[object, ...], descending: tuple[bool, ...]) -> int:
    """-1, 0 or 1 as SQLite orders the keys `a` and `b` (BINARY collation)."""
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        rx, ry = _rank(x), _rank(y)
        if rx == ry:
            continue
        order = -1 if _less(rx, ry) else 1
        return -order if i < len(descending) and descending[i] else order
    return 0
