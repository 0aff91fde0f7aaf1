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
from collections.abc import Callable, Iterable
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

#: above this share of the database's pages, the whole point is written instead (a page
#: read alone costs ~6 times a page of a forward pass: bench/merge_bench.py --table attachments)
SPARSE_SHARE = 0.1
_BATCH = 256  # leaves read at a time
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
    (nothing left written) when the whole point is the better copy. Pages are written
    as they are read: only the trees' interior pages are held."""
    reader = _Reader(point)
    try:
        known = _interior_pages(reader, table)
        if known is None:
            return False
        fd = create_file(out)
        try:
            written = _write_all(reader, fd, known, point.page_size)
        finally:
            os.close(fd)
    except MALFORMED:
        out.unlink(missing_ok=True)  # this call's own work, incomplete
        return False
    if not written:
        out.unlink(missing_ok=True)  # more than the budget: the whole point is cheaper
    return written


def _interior_pages(reader: _Reader, table: str) -> dict[int, bytes] | None:
    """The schema's pages and the interior pages of the table's trees (its leaves listed
    with an empty image, not read); None when that is not the cheaper copy."""
    shape = layout(reader)
    known = tree_pages(reader, 1)
    roots = _roots_of(reader, shape, known, table)
    if not roots:
        return None
    for root in roots:
        known.update(tree_pages(reader, root, leaves=False))
    if len(known) > SPARSE_SHARE * reader.page_count:
        return None
    return known


def _write_all(reader: _Reader, fd: int, known: dict[int, bytes], page_size: int) -> bool:
    """Every page of `known` (leaves read now) and the overflow chains of their cells;
    False once more than twice the budget was written (cells with long overflow chains)."""
    budget = 2 * SPARSE_SHARE * reader.page_count
    usable = layout(reader).usable
    os.ftruncate(fd, reader.page_count * page_size)
    done: set[int] = set()

    def put(number: int, image: bytes) -> None:
        if number == 1 and image[18:20] == b"\x02\x02":  # WAL: no -wal beside this copy
            image = image[:18] + b"\x01\x01" + image[20:]
        os.pwrite(fd, image, (number - 1) * page_size)
        done.add(number)

    leaves = sorted(n for n, image in known.items() if not image)
    batches = [leaves[i : i + _BATCH] for i in range(0, len(leaves), _BATCH)]
    pending = [(n, image) for n, image in known.items() if image]
    for batch in [*batches, []]:
        for number, image in pending:
            put(number, image)
            if kind(image, number) in _HAS_PAYLOAD:
                _follow_overflow(reader, usable, number, image, done, put)
            if len(done) > budget:
                return False
        pending = list(reader.pages(batch).items())
    return True


def _follow_overflow(
    reader: _Reader,
    usable: int,
    number: int,
    image: bytes,
    done: set[int],
    put: Callable[[int, bytes], None],
) -> None:
    """The overflow chains of the cells of page `number`, each page written as read."""
    for cell in cells(image, number, usable):
        page, steps = cell.overflow, 0
        while page and page not in done and steps < _MAX_CHAIN:
            found = reader.pages([page]).get(page)
            if found is None:
                break
            put(page, found)
            page, steps = overflow_next(found), steps + 1


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
