"""Rows whose overflow pages a commit rewrote in place, their b-tree pages untouched.

SQLite updates a row whose new payload has the old one's size in place, writing only
the overflow pages whose bytes differ (sqlite3_blob_write does the same): the leaf that
holds the row is not written. Such a page is written by the commit, held by no table's
tree on either side, neither a b-tree page nor a freelist trunk. When there is one and
the rows already compared do not explain it, the tables' rows with overflow are
searched (after the commit) for the chain that holds it: a whole-database walk, paid
only by such commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lifeboat.core.history.btree import INDEX_KINDS, TABLE_LEAF, Cell, cells, kind, overflow_next
from lifeboat.core.history.tables import Pages, TableTree, payload, tree_pages

_MAX_TRUNKS = 1 << 20


def freelist_trunks(state: Pages) -> set[int]:
    page_one = state.pages([1])[1]
    found: set[int] = set()
    number = int.from_bytes(page_one[32:36], "big")
    while number and number not in found and len(found) < _MAX_TRUNKS:
        image = state.pages([number]).get(number)
        if image is None:
            break
        found.add(number)
        number = overflow_next(image)
    return found


def suspects(
    old: dict[int, bytes], new: dict[int, bytes], owned: set[int], trunks: set[int]
) -> set[int]:
    """Written pages that look like overflow pages rewritten in place."""
    found = set()
    for number, image in new.items():
        before = old.get(number)
        if before is None or before == image or number == 1 or number in owned:
            continue
        if number not in trunks and image[0] == 0 and before[0] == 0:
            found.add(number)
    return found


def chain(state: Pages, cell: Cell, usable: int) -> Iterator[int]:
    """The overflow pages of a cell, in order."""
    left, number, seen = cell.size - len(cell.local), cell.overflow, set()
    while left > 0 and number and number not in seen:
        seen.add(number)
        yield number
        image = state.pages([number]).get(number)
        if image is None:
            return
        left -= usable - 4
        number = overflow_next(image)


def explained(state: Pages, rows: Iterable[Cell], usable: int) -> set[int]:
    """The overflow pages of `rows`."""
    return {n for cell in rows if cell.overflow for n in chain(state, cell, usable)}


def owners_of(
    before: Pages, after: Pages, tables: Iterable[TableTree], pages: set[int], usable: int
) -> dict[str, int]:
    """Per table, how many of its rows (with an overflow chain holding one of `pages`)
    differ between `before` and `after`."""
    changed: dict[str, int] = {}
    left = set(pages)
    for table in tables:
        if not left:
            break
        for number, image in tree_pages(after, table.root).items():
            page_kind = kind(image, number)
            if page_kind not in (INDEX_KINDS if table.index_tree else (TABLE_LEAF,)):
                continue
            for cell in cells(image, number, usable):
                if not cell.overflow:
                    continue
                hit = left.intersection(chain(after, cell, usable))
                if hit:
                    left -= hit
                    if payload(before, cell, usable) != payload(after, cell, usable):
                        changed[table.name] = changed.get(table.name, 0) + 1
    return changed
