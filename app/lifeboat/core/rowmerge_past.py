"""The past side of a row merge without rebuilding the whole point: only the pages SQLite
reads to answer the merge's queries on one table, taken from the point's pages
(core/point_pages.PointPages) and written at their places into a sparse private file.

SQLite reads, for queries on one table of a read-only database: page 1 and the schema
table's tree (to know the tables), the table's own b-tree with the overflow chains of
its cells, and the b-trees of the table's indexes (the planner may use any of them; a
text or composite key is found through its index). Those are written; every other page
is a hole (zeros), never read. Page 1 says "rollback journal" (a point read from a WAL
image says WAL: the file has no -wal beside it and is only read).

Worth it only when those pages are a small share of the database: above `SPARSE_SHARE`
writing the whole point costs no more (one forward pass), and the caller does that. A
table this cannot find (not there, or a page that is not what the schema says) is also
left to the whole point: its errors are said from there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lifeboat.core.history.btree import (
    INDEX_INTERIOR,
    INDEX_LEAF,
    MALFORMED,
    TABLE_LEAF,
    cells,
    field_value,
    kind,
    overflow_next,
    record_fields,
)
from lifeboat.core.history.tables import Layout, layout, payload, tree_pages
from lifeboat.core.point_pages import PointPages
from lifeboat.core.private import create_file

#: above this share of the database's pages, the whole point is written instead
SPARSE_SHARE = 0.5
_HAS_PAYLOAD = (TABLE_LEAF, INDEX_LEAF, INDEX_INTERIOR)
_MAX_CHAIN = 1 << 20  # an overflow chain longer than any real one: damaged pages


class _Reader:
    """PointPages as core/history/tables reads pages (in batches, any order)."""

    def __init__(self, point: PointPages) -> None:
        self.point = point
        self.page_count = point.page_count

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        numbers = sorted({n for n in wanted if 0 < n <= self.page_count})
        return {n: self.point.page(n) for n in numbers}


def write_table_pages(point: PointPages, table: str, out: Path) -> bool:
    """Write `out` (a new private file) with the pages queries on `table` read; False
    (nothing written) when the whole point is the better copy."""
    reader = _Reader(point)
    try:
        pages = _table_pages(reader, table)
    except MALFORMED:
        return False
    if pages is None:
        return False
    fd = create_file(out)
    try:
        os.ftruncate(fd, point.page_count * point.page_size)
        for number in sorted(pages):
            image = pages[number]
            if number == 1 and image[18:20] == b"\x02\x02":
                image = image[:18] + b"\x01\x01" + image[20:]
            os.pwrite(fd, image, (number - 1) * point.page_size)
    finally:
        os.close(fd)
    return True


def _table_pages(reader: _Reader, table: str) -> dict[int, bytes] | None:
    shape = layout(reader)
    schema = tree_pages(reader, 1)
    roots = _roots_of(reader, shape, schema, table)
    if not roots:
        return None
    wanted = dict(schema)
    for root in roots:  # the interior levels first: how many leaves, before reading them
        wanted.update(tree_pages(reader, root, leaves=False))
    if len(wanted) > SPARSE_SHARE * reader.page_count:
        return None
    for root in roots:
        wanted.update(tree_pages(reader, root))
    _add_overflow(reader, shape, wanted)
    return wanted


def _roots_of(reader: _Reader, shape: Layout, schema: dict[int, bytes], table: str) -> list[int]:
    """The root pages of the table (matched as SQLite matches names) and its indexes."""
    roots = []
    for number, image in schema.items():
        if kind(image, number) != TABLE_LEAF:
            continue
        for cell in cells(image, number, shape.usable):
            values = [
                field_value(s, d, shape.encoding)
                for s, d in record_fields(payload(reader, cell, shape.usable))
            ]
            if len(values) < 4 or values[0] not in ("table", "index"):
                continue
            owner, root = values[2], values[3]
            named = isinstance(owner, str) and owner.lower() == table.lower()
            if named and isinstance(root, int) and root > 0:
                roots.append(root)
    return roots


def _add_overflow(reader: _Reader, shape: Layout, pages: dict[int, bytes]) -> None:
    """The overflow chains of every cell of the trees in `pages`."""
    firsts = []
    for number, image in list(pages.items()):
        if kind(image, number) in _HAS_PAYLOAD:
            firsts += [c.overflow for c in cells(image, number, shape.usable) if c.overflow]
    for first in firsts:
        number, steps = first, 0
        while number and number not in pages and steps < _MAX_CHAIN:
            found = reader.pages([number]).get(number)
            if found is None:
                break
            pages[number] = found
            number, steps = overflow_next(found), steps + 1
