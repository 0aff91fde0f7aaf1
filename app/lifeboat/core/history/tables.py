"""The tables of a database state and the b-tree pages that hold their rows.

Read from page images only (a ChainState of page_reader.py): the schema table's rows,
which table a page belongs to, and every page of a tree. Trees are walked level by
level so that each level is one batch of reads (one forward pass over a base at most).
"""

from __future__ import annotations

import bisect
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from lifeboat.core.history.btree import (
    INDEX_KINDS,
    INTERIOR,
    MALFORMED,
    TABLE_INTERIOR,
    TABLE_LEAF,
    Cell,
    cell_count,
    cells,
    children,
    field_value,
    kind,
    overflow_next,
    record_fields,
    text_encoding,
    usable_size,
)

_MAX_DEPTH = 40  # deeper than any real b-tree: a loop in damaged pages ends here


class Pages(Protocol):
    page_count: int

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]: ...


@dataclass(frozen=True)
class TableTree:
    name: str
    root: int
    index_tree: bool  # a WITHOUT ROWID table: its rows are an index b-tree's cells
    key_fields: int  # how many leading fields of a row are its key (index trees)


@dataclass(frozen=True)
class Layout:
    usable: int
    encoding: str


def layout(state: Pages) -> Layout:
    page_one = state.pages([1])[1]
    return Layout(usable_size(page_one), text_encoding(page_one))


def payload(state: Pages, cell: Cell, usable: int) -> bytes:
    """A cell's whole payload, its overflow chain followed."""
    if not cell.overflow:
        return cell.local
    parts, left, number, seen = [cell.local], cell.size - len(cell.local), cell.overflow, set()
    while left > 0 and number and number not in seen:
        seen.add(number)
        image = state.pages([number]).get(number)
        if image is None:
            break
        piece = image[4 : 4 + min(left, usable - 4)]
        parts.append(piece)
        left -= len(piece)
        number = overflow_next(image)
    return b"".join(parts)


def tree_pages(
    state: Pages,
    root: int,
    *,
    leaves: bool = True,
    children_of: Callable[[bytes, int], list[int]] = children,
) -> dict[int, bytes]:
    """Every page of the b-tree at `root` with its image; with leaves=False the leaves
    are listed (their images empty) but not read: a b-tree's leaves are all at one
    depth, so a level whose first page is a leaf is all leaves. `children_of` reads an
    interior page's children (a caller walking two files that share pages remembers)."""
    found: dict[int, bytes] = {}
    level = [root]
    count = state.page_count
    for _ in range(_MAX_DEPTH):
        head = next((n for n in level if n not in found and 0 < n <= count), None)
        if head is None:
            break
        if not leaves and head != root:
            first = state.pages([head], interior=True).get(head)
            if first is None or kind(first, head) not in INTERIOR:
                # Leaves, listed straight into `found`: each is looked up there as it
                # goes in, so one listed twice goes in once (a level of leaves is most
                # of a big table: a second structure its size took ~10 MB a GiB)
                found.update((n, b"") for n in level if n not in found and 0 < n <= count)
                break
        level = [n for n in dict.fromkeys(level) if n not in found and 0 < n <= count]
        images = state.pages(level, interior=not leaves and level[0] != root)
        found.update(images)
        level = [c for n, image in images.items() for c in children_of(image, n)]
    return found


def schema_records(state: Pages) -> Iterator[list[object]]:
    """The records of sqlite_schema (type, name, tbl_name, rootpage, sql, ...) read from
    the pages; records shorter than five fields are skipped."""
    shape = layout(state)
    for number, image in tree_pages(state, 1).items():
        if kind(image, number) != TABLE_LEAF:
            continue
        for cell in cells(image, number, shape.usable):
            values = [
                field_value(s, d, shape.encoding)
                for s, d in record_fields(payload(state, cell, shape.usable))
            ]
            if len(values) >= 5:
                yield values


def read_schema(state: Pages) -> dict[str, TableTree]:
    """The tables (not indexes, not virtual tables) by name, with their trees."""
    found: dict[str, TableTree] = {}
    sqls: dict[str, str] = {}
    for values in schema_records(state):
        if values[0] != "table" or not isinstance(values[3], int):
            continue
        name, root, sql = str(values[1]), values[3], values[4]
        if root <= 0:
            continue
        found[name] = TableTree(name, root, False, 0)
        if isinstance(sql, str):
            sqls[name] = sql
    roots = state.pages(t.root for t in found.values())
    for name, tree in list(found.items()):
        root_image = roots.get(tree.root)
        if root_image is not None and kind(root_image, tree.root) in INDEX_KINDS:
            found[name] = TableTree(name, tree.root, True, _key_fields(name, sqls.get(name)))
    return found


def _key_fields(name: str, sql: str | None) -> int:
    """How many leading fields of a WITHOUT ROWID table's rows are its primary key (0:
    the whole row, when its SQL cannot be read here, e.g. a collation unknown here)."""
    if not sql:
        return 0
    conn = sqlite3.connect(":memory:")
    try:
        with contextlib.suppress(sqlite3.Error):
            conn.execute(sql)
            quoted = '"' + name.replace('"', '""') + '"'
            info = conn.execute(f"pragma table_info({quoted})").fetchall()
            return sum(1 for row in info if row[5])
        return 0
    finally:
        conn.close()


def rowid_owners(
    state: Pages, tables: Iterable[TableTree], images: dict[int, bytes], usable: int
) -> dict[int, str]:
    """Which rowid table each table leaf among `images` belongs to in `state`: a leaf is
    a table's when looking its first rowid up from the table's root reaches it (a freed
    page that kept its old cells is nobody's)."""
    rowid_tables = [t for t in tables if not t.index_tree]
    owners = {}
    active = []
    for number, image in images.items():
        if number == 1 or kind(image, number) != TABLE_LEAF:
            continue
        for table in rowid_tables:
            if table.root == number:
                owners[number] = table.name
        if number in owners or not cell_count(image, number):
            continue
        key = next(cells(image, number, usable)).key
        active += [(t.name, key, number, t.root) for t in rowid_tables]
    for _ in range(_MAX_DEPTH):
        if not active:
            break
        level = state.pages({c for *_, t, c in active if c != t}, interior=True)
        moving = []
        routes: dict[int, tuple[list[int], list[int]]] = {}  # page -> keys, children
        for name, key, target, current in active:
            step = level.get(current)
            if current == target:
                owners[target] = name
            elif step is not None and kind(step, current) == TABLE_INTERIOR:
                with contextlib.suppress(*MALFORMED):
                    if current not in routes:
                        keys = [cell.key for cell in cells(step, current, usable)]
                        routes[current] = keys, children(step, current)
                    keys, below = routes[current]
                    moving.append((name, key, target, below[bisect.bisect_left(keys, key)]))
        active = moving
    return owners
