"""Which rows a commit changed, per table, counted from the pages it wrote.

A row lives in one cell of its table's b-tree. A commit that adds, changes, deletes or
moves a row rewrites every page the row leaves or enters (SQLite writes a page whose
cells change; a balance rewrites each page it moves cells between), so the rows on the
pages the commit did not write are the same before and after it. Two exceptions, both
checked by tests against SQLite itself: a page SQLite frees without writing it (with
secure_delete off, a leaf put on the freelist keeps its old bytes) is a child that a
rewritten interior page lost, so the children interior pages lost are followed down
before the commit and counted too; and a row updated to a payload of the same size is
overwritten in place, only its overflow pages written (in_place.py finds its row).

So: the candidate pages are the commit's pages, the pages past its end (cut off) and
those freed subtrees. On each side (before, after) the candidates a table owns give its
cells: for a rowid table the leaves whose first rowid, looked up from the table's root,
leads to them; for a WITHOUT ROWID table (an index b-tree whose cells are its rows, on
interior pages too) the pages of its tree. Keys only after the commit were added, only
before were deleted; keys on both sides whose payload (with its overflow) differs were
changed. A table created or dropped by the commit counts all its rows; a table whose
root moved is compared whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lifeboat.core.history import in_place
from lifeboat.core.history.btree import (
    INDEX_KINDS,
    INTERIOR,
    MALFORMED,
    TABLE_LEAF,
    Cell,
    cells,
    children,
    field_value,
    kind,
    pointer_map_pages,
    record_fields,
)
from lifeboat.core.history.tables import (
    Layout,
    Pages,
    TableTree,
    layout,
    payload,
    read_schema,
    rowid_owners,
    tree_pages,
)

_MAX_DEPTH = 40


@dataclass(frozen=True)
class TableChange:
    """How many rows of one table a commit added, changed and deleted."""

    table: str
    added: int
    changed: int
    deleted: int


@dataclass
class _Side:
    """One side of the commit: a state, its tables and the candidates' images."""

    state: Pages
    shape: Layout
    tables: dict[str, TableTree]
    images: dict[int, bytes]
    owners: dict[int, str]


def commit_changes(before: Pages, after: Pages, written: Iterable[int]) -> list[TableChange]:
    """The row changes per table (tables with none left out) between the state `before`
    a commit and the state `after` it, given the pages the commit wrote."""
    changed = set(written) | set(range(after.page_count + 1, before.page_count + 1))
    for state in (before, after):  # pages of pointers hold no rows
        changed -= pointer_map_pages(state.pages([1])[1], max(before.page_count, after.page_count))
    old_images = before.pages(changed)
    new_images = after.pages(changed)
    freed = _freed_subtrees(before, old_images, new_images, changed)
    old_images.update(before.pages(freed))
    new_images.update(after.pages(freed))
    old, new = _side(before, old_images), _side(after, new_images)
    counts: dict[str, list[int]] = {}
    compared: list[tuple[_Side, Cell]] = []
    for name in sorted(set(old.tables) | set(new.tables)):
        counts[name] = _table_change(name, old, new, compared)
    for name, count in _changed_in_place(old, new, compared).items():
        counts[name][1] += count
    return [TableChange(name, *c) for name, c in counts.items() if any(c)]


def _changed_in_place(old: _Side, new: _Side, compared: list[tuple[_Side, Cell]]) -> dict[str, int]:
    """Rows changed through overflow pages alone (in_place.py)."""
    owned = set(old.owners) | set(new.owners)
    trunks = in_place.freelist_trunks(old.state) | in_place.freelist_trunks(new.state)
    left = in_place.suspects(old.images, new.images, owned, trunks)
    if left:
        for side in (old, new):
            rows = [cell for owner, cell in compared if owner is side]
            left -= in_place.explained(side.state, rows, side.shape.usable)
    if not left:
        return {}
    tables = [t for name, t in new.tables.items() if old.tables.get(name) == t]
    return in_place.owners_of(old.state, new.state, tables, left, new.shape.usable)


def _side(state: Pages, images: dict[int, bytes]) -> _Side:
    shape = layout(state)
    tables = read_schema(state)
    owners = rowid_owners(state, tables.values(), images, shape.usable)
    for table in tables.values():
        if table.index_tree:
            for number in tree_pages(state, table.root, leaves=False):
                if number in images:
                    owners[number] = table.name
    return _Side(state, shape, tables, images, owners)


def _freed_subtrees(
    before: Pages, old: dict[int, bytes], new: dict[int, bytes], changed: set[int]
) -> set[int]:
    """The pages under the children that rewritten interior pages lost (as they were
    before the commit), less the commit's own pages."""
    lost = set()
    for number, image in old.items():
        if kind(image, number) in INTERIOR:
            kept = new.get(number)
            still = set(children(kept, number)) if kept is not None else set()
            lost |= set(children(image, number)) - still
    found: set[int] = set()
    level = lost - changed
    for _ in range(_MAX_DEPTH):
        level = {n for n in level if n not in found and 0 < n <= before.page_count}
        if not level:
            break
        found |= level
        images = before.pages(level)
        level = {c for n, image in images.items() for c in children(image, n)} - changed
    return found


def _table_change(
    name: str, old: _Side, new: _Side, compared: list[tuple[_Side, Cell]]
) -> list[int]:
    """[added, changed, deleted] of one table; the rows compared (whose overflow
    chains explain the overflow pages written) are added to `compared`."""
    before, after = old.tables.get(name), new.tables.get(name)
    if before is None and after is not None:
        return [len(_rows(new, after, tree_pages(new.state, after.root))), 0, 0]
    if after is None and before is not None:
        return [0, 0, len(_rows(old, before, tree_pages(old.state, before.root)))]
    assert before is not None and after is not None
    if before.root != after.root or before.index_tree != after.index_tree:
        old_rows = _rows(old, before, tree_pages(old.state, before.root))
        new_rows = _rows(new, after, tree_pages(new.state, after.root))
    else:
        old_rows = _rows(old, before, _owned(old, name))
        new_rows = _rows(new, after, _owned(new, name))
    compared += [(new, cell) for cell in new_rows.values()]
    compared += [(old, cell) for cell in old_rows.values()]
    added = sum(1 for key in new_rows if key not in old_rows)
    deleted = sum(1 for key in old_rows if key not in new_rows)
    differ = sum(
        1
        for key, cell in new_rows.items()
        if key in old_rows and not _same(old, old_rows[key], new, cell)
    )
    return [added, differ, deleted]


def _owned(side: _Side, name: str) -> dict[int, bytes]:
    return {n: side.images[n] for n, owner in side.owners.items() if owner == name}


def _rows(side: _Side, table: TableTree, pages: dict[int, bytes]) -> dict[object, Cell]:
    """The table's rows on `pages` (images; empty ones are read), by key."""
    missing = [n for n, image in pages.items() if not image]
    if missing:
        pages = {**pages, **side.state.pages(missing)}
    rows: dict[object, Cell] = {}
    usable = side.shape.usable
    for number, image in pages.items():
        page_kind = kind(image, number)
        if table.index_tree and page_kind not in INDEX_KINDS:
            continue
        if not table.index_tree and page_kind != TABLE_LEAF:
            continue
        try:
            for cell in cells(image, number, usable):
                rows[_key(side, table, cell)] = cell
        except MALFORMED:
            continue  # not a page of this tree after all
    return rows


def _key(side: _Side, table: TableTree, cell: Cell) -> object:
    if not table.index_tree:
        return cell.key
    record = payload(side.state, cell, side.shape.usable)
    fields = record_fields(record)
    if table.key_fields:
        fields = fields[: table.key_fields]
    return tuple(field_value(s, d, side.shape.encoding) for s, d in fields)


def _same(old: _Side, before: Cell, new: _Side, after: Cell) -> bool:
    if (before.size, before.local) != (after.size, after.local):
        return False
    if not before.overflow and not after.overflow:
        return True
    return payload(old.state, before, old.shape.usable) == payload(
        new.state, after, new.shape.usable
    )
