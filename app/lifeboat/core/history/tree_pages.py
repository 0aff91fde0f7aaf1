"""The pages of b-trees, walked from their roots in the file's own bytes, as SQLite's
integrity check walks them (btree.c checkTreePage / checkList): a point restore's check
counts the pages of the b-trees its commits touched with it (point_check.py).

A b-tree page says its type (byte 0 of its header: 5 table interior, 13 table leaf,
2 index interior, 10 index leaf), its cell count (bytes 3-4), where its cell content
starts (5-6), and, interior, its right-most child (8-11); its cell pointer array
follows the header (12 bytes interior, 8 leaf). An interior cell starts with its left
child's page number. A cell with a payload (table leaf, index leaf and interior) keeps
`local` bytes of it on the page and the rest in an overflow chain whose first page
number follows those bytes; `local` is SQLite's (btreeParseCellAdjustSizeForOverflow):
with U the usable size, a table leaf's cells keep up to U-35 bytes, an index's up to
(U-12)*64/255-23; above that, minLocal + (payload - minLocal) % (U-4) if that fits,
else minLocal ((U-12)*32/255-23). The chain has exactly
(payload - local + U - 5) // (U - 4) pages, the last one's next pointer 0 (SQLite's
checkList follows it to the 0 and wants that count).

The walk goes level by level, reading each level's pages in page order (neighbouring
pages in one read) and decoding them with numpy: a 1 GiB database's touched table is a
few hundred thousand pages and the restore waits for this. Memory: one batch of pages
at a time, and the page numbers found.

It is stricter than SQLite, never looser: anything it does not expect (a page type
other than the root's kind, leaves and interior pages at one depth, a cell pointer or
cell outside the page, a payload size over 2**31, a child 0 or outside the file, a
chain cut short or running on, deeper than SQLite's 20 levels, more pages than the
file) raises `WalkFailed`: nothing is proven, the caller takes SQLite's whole check.
Pages listed twice are left in the result for the caller's accounting to refuse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lifeboat.core.history.btree import INDEX_INTERIOR as _INDEX_INTERIOR
from lifeboat.core.history.btree import INDEX_LEAF as _INDEX_LEAF
from lifeboat.core.history.btree import TABLE_INTERIOR as _TABLE_INTERIOR
from lifeboat.core.history.btree import TABLE_LEAF as _TABLE_LEAF
from lifeboat.core.history.page_owners import WalkFailed

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Pages = NDArray[np.int64]
    Bytes = NDArray[np.uint8]

#: SQLite's deepest b-tree (BTCURSOR_MAX_DEPTH)
_MAX_DEPTH = 20
#: pages read at once (a batch's bytes: 2048 pages of 4 KiB = 8 MiB)
_BATCH_BYTES = 8 << 20
#: pages skipped over to read two runs in one (cheaper than another system call)
_GAP = 4


class TreeFile:
    """What the walk needs of the database file: its descriptor, page size, usable
    size (page size less reserved bytes) and page count."""

    def __init__(self, fd: int, page_size: int, usable: int, page_count: int) -> None:
        self.fd, self.size, self.usable, self.count = fd, page_size, usable, page_count
        self.max_local_index = (usable - 12) * 64 // 255 - 23
        self.min_local = (usable - 12) * 32 // 255 - 23
        self.max_local_leaf = usable - 35


def tree_pages(file: TreeFile, roots: list[int]) -> Pages:
    """Every page of the b-trees rooted at `roots` (interior, leaf, overflow), one entry
    per reference (a page referenced twice is there twice); raises WalkFailed."""
    import numpy as np

    found: list[Pages] = []
    total = 0
    for root in roots:
        level = np.array([root], dtype=np.int64)
        kind = None
        for _depth in range(_MAX_DEPTH):
            _in_file(file, level)
            total += len(level)
            if total > file.count:
                raise WalkFailed("the walk meets more pages than the file has")
            found.append(level)
            children, heads, lengths, kind = _decode_level(file, level, kind)
            total += _follow_chains(file, heads, lengths, found, file.count - total)
            if not len(children):
                break
            level = children
        else:
            raise WalkFailed(f"b-tree {root} is deeper than SQLite's b-trees go")
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _in_file(file: TreeFile, pages: Pages) -> None:
    if len(pages) and (int(pages.min()) < 1 or int(pages.max()) > file.count):
        raise WalkFailed("a b-tree names a page outside the file")


def _decode_level(
    file: TreeFile, level: Pages, parent: int | None
) -> tuple[Pages, Pages, Pages, int]:
    """(the children of the level's pages, the first pages and lengths of their cells'
    overflow chains, the level's page kind); every page of a level must be one kind,
    of its parent's family (table or index), and a parent is an interior page."""
    import numpy as np

    children: list[Pages] = []
    heads: list[Pages] = []
    lengths: list[Pages] = []
    kind: int | None = None
    for _pages, data, where in _read_pages(file, np.unique(level)):
        types = data[where, 0]
        first = int(types[0])
        if first not in (_TABLE_INTERIOR, _TABLE_LEAF, _INDEX_INTERIOR, _INDEX_LEAF):
            raise WalkFailed(f"a page of type {first} in a b-tree")
        if (types != first).any() or (kind is not None and first != kind):
            raise WalkFailed("pages of different kinds at one depth of a b-tree")
        if parent is not None and _is_table(first) != _is_table(parent):
            raise WalkFailed("table and index pages in one b-tree")
        kind = first
        child, head, length = _decode_batch(file, data, where, first)
        children.append(child)
        heads.append(head)
        lengths.append(length)
    if kind is None:
        raise WalkFailed("an empty level in a b-tree")
    return np.concatenate(children), np.concatenate(heads), np.concatenate(lengths), kind


def _is_table(kind: int) -> bool:
    return kind in (_TABLE_INTERIOR, _TABLE_LEAF)


def _is_leaf(kind: int) -> bool:
    return kind in (_TABLE_LEAF, _INDEX_LEAF)


def _decode_batch(
    file: TreeFile, data: Bytes, where: Pages, kind: int
) -> tuple[Pages, Pages, Pages]:
    """(children, overflow heads, overflow lengths) of a batch of pages of one kind
    (rows `where` of `data`, uint8)."""
    import numpy as np

    from lifeboat.core.history.cell_payload import overflow_of_cells

    leaf = _is_leaf(kind)
    start = 8 if leaf else 12
    cells = (data[where, 3].astype(np.int64) << 8) | data[where, 4]
    content = (data[where, 5].astype(np.int64) << 8) | data[where, 6]
    content[content == 0] = 65536
    if ((start + 2 * cells) > content).any() or (content > file.usable).any():
        raise WalkFailed("a cell pointer array runs into the cells")
    rows = np.repeat(where, cells)
    index = np.arange(len(rows)) - np.repeat(np.cumsum(cells) - cells, cells)
    at = start + 2 * index
    cell = (data[rows, at].astype(np.int64) << 8) | data[rows, at + 1]
    if ((cell < np.repeat(content, cells)) | (cell > file.usable - 4)).any():
        raise WalkFailed("a cell outside its page's cell content area")
    children = np.zeros(0, dtype=np.int64)
    if not leaf:
        right = _u32(data, where, np.full(len(where), 8))
        children = np.concatenate([_u32(data, rows, cell), right])
        if (children == 0).any():
            raise WalkFailed("an interior page names page 0")
    if kind == _TABLE_INTERIOR:  # no payload: a child and a rowid
        empty = np.zeros(0, dtype=np.int64)
        return children, empty, empty
    payload_at = cell if leaf else cell + 4
    heads, lengths = overflow_of_cells(file, data, rows, payload_at, kind == _TABLE_LEAF)
    return children, heads, lengths


def _u32(data: Bytes, rows: Pages, at: Pages) -> Pages:
    """Big-endian 4-byte numbers at column `at` of rows `rows`."""
    import numpy as np

    value = np.zeros(len(rows), dtype=np.int64)
    for k in range(4):
        value = (value << 8) | data[rows, at + k]
    return value


def _follow_chains(
    file: TreeFile, heads: Pages, lengths: Pages, found: list[Pages], room: int
) -> int:
    """Walk the overflow chains (first page, page count) all at once, step by step,
    appending their pages to `found`; how many. Each must have exactly its count of
    pages and end in 0."""
    import numpy as np

    walked = 0
    current, left = heads, lengths
    while len(current):
        _in_file(file, current)
        walked += len(current)
        if walked > room:
            raise WalkFailed("the walk meets more pages than the file has")
        found.append(current)
        distinct = np.unique(current)
        nexts = np.concatenate(
            [
                _u32(data, where, np.zeros(len(where), dtype=np.int64))
                for _pages, data, where in _read_pages(file, distinct)
            ]
        )
        following = nexts[np.searchsorted(distinct, current)]
        left = left - 1
        ends = left == 0
        if (following[ends] != 0).any() or (following[~ends] == 0).any():
            raise WalkFailed("an overflow chain is not as long as its cell says")
        current, left = following[~ends], left[~ends]
    return walked


def _read_pages(file: TreeFile, pages: Pages) -> Iterator[tuple[Pages, Bytes, Pages]]:
    """(page numbers, rows of uint8 holding them, the row of each) for the sorted
    distinct `pages`, a batch at a time; neighbouring pages (gaps up to _GAP) come in
    one read. The rows are valid until the next batch (one buffer, reused: a fresh
    one a batch would be faulted in page by page)."""
    import numpy as np

    if not len(pages):
        return
    per_batch = max(1, _BATCH_BYTES // file.size)
    span_most = per_batch + per_batch // 2
    buffer = np.empty((min(span_most, int(pages[-1] - pages[0]) + 1), file.size), np.uint8)
    at = 0
    while at < len(pages):
        batch = pages[at : at + per_batch]
        at += len(batch)
        first, last = int(batch[0]), int(batch[-1])
        if last - first + 1 <= len(buffer):  # one read covers them
            span = _read_span(file, buffer, first, last)
            yield batch, span, batch - first  # (no copy: rows picked where they lie)
            continue
        rows = np.empty((len(batch), file.size), dtype=np.uint8)
        breaks = np.flatnonzero(np.diff(batch) > _GAP + 1) + 1
        for piece in np.split(np.arange(len(batch)), breaks):
            low, high = int(batch[piece[0]]), int(batch[piece[-1]])
            rows[piece] = _read_span(file, buffer, low, high)[batch[piece] - low]
        yield batch, rows, np.arange(len(batch))


def _read_span(file: TreeFile, buffer: Bytes, first: int, last: int) -> Bytes:
    """Pages first..last as rows of uint8, read into the start of `buffer` (or a
    buffer of their own, if they are more rows than it has: a piece of a scattered
    batch may span up to (_GAP + 1) times its pages)."""
    span = buffer[: last - first + 1]
    if len(span) != last - first + 1:  # more than the buffer holds: a buffer of its own
        import numpy as np

        span = np.empty((last - first + 1, file.size), dtype=np.uint8)
    got = os.preadv(file.fd, [span.data.cast("B")], (first - 1) * file.size)
    if got != span.nbytes:
        raise WalkFailed(f"pages {first}-{last} could not be read whole")
    return span
