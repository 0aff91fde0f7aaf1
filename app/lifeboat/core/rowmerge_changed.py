"""The past side of a row merge from only the pages that changed: which of a snapshot's
table pages can hold a row the live database does not hold exactly, found from the
snapshot's page-hash list and one hashing pass over the live file.

The rule (the proof that every other past row is in live, unchanged): a page of the
table's b-tree in the snapshot (a leaf; every page of a WITHOUT ROWID table's tree, whose
interior cells are rows too) whose bytes are the live file's at the same number, and
which the live table's b-tree reaches, holds cells the live table holds, byte for byte:
the same rowids and records. A cell's overflow chain is the same too when no differing
page is an overflow page in live: every differing page must be a page of some b-tree of
live, of its freelist or a pointer-map page (the first differing page of a chain would
be an overflow page in both files). When that cannot be shown, or the live file cannot
be frozen (core/preview_pages.frozen_file), the caller reads the whole past instead.

Pages are read through `PastPages`: the snapshot's page from the live file when its hash
says it is the same (no decompression), from the artifact otherwise (each frame read is
checked against its checksum). `changed_pages` gives the pages to read rows from and the
number of rows the table held then (the plan's counts).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import sqlite3
import struct
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.btree import (
    INDEX_KINDS,
    TABLE_LEAF,
    children,
    kind,
    pointer_map_pages,
)
from lifeboat.core.history.tables import tree_pages
from lifeboat.core.live_pass import PassShare, state_of
from lifeboat.core.pagediff import HASH_SIZE, page_hashes_of
from lifeboat.core.point_pages import PointPages
from lifeboat.core.preview_pages import frozen_file
from lifeboat.core.sqlite_file import file_uri
from lifeboat.core.wal_direct import FrozenWal
from lifeboat.foundation.progress import CancelToken

_U32 = struct.Struct(">I")
_MAX_TRUNKS = 1 << 20  # a freelist longer than any real one: damaged pages
Buffer = bytes | bytearray
_BUSY_SECONDS = 5.0  # how long to wait for the app's commit to take the write lock
log = logging.getLogger(__name__)


@contextlib.contextmanager
def frozen_live(live: Path, *, checkpoint: bool) -> Iterator[FrozenWal | None]:
    """The live database frozen (core/preview_pages.frozen_file), or None. Frames the
    app has not copied back are read where they are (wal_direct.FrozenWal.wal_pages): a
    preview never writes the live file, and a merge need not. An app that commits all
    the time can keep even that from happening (a commit between the two readings of the
    wal-index header): where Lifeboat is about to write the database anyway
    (`checkpoint`), it is then frozen while this process holds the write lock for that
    moment only (the app's writers wait for the freeze, not for the reading)."""
    with frozen_file(live, checkpoint=checkpoint, wal_frames=True) as frozen:
        if frozen is not None or not checkpoint:
            yield frozen
            return
    conn = sqlite3.connect(
        file_uri(live, mode="rw"), uri=True, timeout=_BUSY_SECONDS, isolation_level=None
    )
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            yield None
            return
        with frozen_file(live, checkpoint=True, writes_held=True, wal_frames=True) as frozen:
            conn.execute("ROLLBACK")  # it wrote nothing: the lock was for the freeze
            yield frozen
    finally:
        conn.close()  # after the frozen connection: SQLite keeps its descriptor meanwhile


class LivePages:
    """The frozen live file's pages (core/history/tables reads pages this way)."""

    def __init__(self, frozen: FrozenWal) -> None:
        self.frozen, self.page_size, self.page_count = frozen, frozen.page_size, frozen.page_count

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        page = self.frozen.page
        return {n: page(n) for n in sorted(set(wanted)) if 0 < n <= self.page_count}


class PastPages:
    """The snapshot's pages: the live file's where the hashes say they are the same."""

    def __init__(self, snapshot: PointPages, live: LivePages, differing: set[int]) -> None:
        self.snapshot, self.live, self.differing = snapshot, live, differing
        self.page_count = snapshot.page_count
        self.decompressed = 0  # pages read from the artifact

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        numbers = sorted({n for n in wanted if 0 < n <= self.page_count})
        same = [n for n in numbers if n not in self.differing]
        found = self.live.pages(same)
        for n in numbers:
            if n in self.differing:
                found[n] = self.snapshot.page(n)
                self.decompressed += 1
        return found


@dataclass(frozen=True)
class LiveScan:
    """What one pass over the live file tells: the pages that differ from the snapshot
    (or that only one of them has; page 1 always) and each page's cell count."""

    differing: set[int]
    #: index n - 1: the high and low byte of the count field of page n's b-tree header
    #: (kept as bytes: a Python int per page cost a third of the pass)
    count_high: Buffer
    count_low: Buffer

    def cells_on(self, pages: Iterable[int]) -> int:
        """The cells on all these pages (summed in C: one call per page cost more)."""
        at = [n - 1 for n in pages]
        if not at:
            return 0
        if len(at) == 1:
            return self.count_high[at[0]] << 8 | self.count_low[at[0]]
        pick = operator.itemgetter(*at)
        return sum(pick(self.count_high)) * 256 + sum(pick(self.count_low))


#: the pass reads the file in pieces of this many bytes into one reused buffer (a new
#: bytes object per piece cost more CPU than hashing it)
_PASS_PIECE = 1 << 20
#: pages whose hashes are compared in one go before a run that differs is halved
_COMPARED_AT_ONCE = 256
#: unchanged pages whose cells are counted in one go
_CELLS_AT_ONCE = 1 << 16
#: a run that differs and is this short is looked at page by page
_LOOKED_AT_ONE_BY_ONE = 16


def scan_live(
    frozen: FrozenWal,
    listed: bytes,
    snapshot_pages: int,
    cancel: CancelToken,
    share: PassShare | None = None,
) -> LiveScan:
    """Every page of the frozen live file against the snapshot's page-hash list: hashed
    here, or taken from the safety snapshot's pass of the very same state when `share`
    hands one over (core/live_pass.py: it is waited for)."""
    made = share.result_for(state_of(frozen), cancel) if share is not None else None
    differing = {1}  # page 1 always (its header is not compared here)
    if made is None:
        high, low = _own_pass(frozen, listed, differing, cancel)
    else:
        log.info("the live file's pages were hashed once, by the safety snapshot's pass")
        _add_differing(differing, made.hashes, listed, 0)
        high, low = made.count_high, made.count_low
    differing.update(range(frozen.page_count + 1, snapshot_pages + 1))
    return LiveScan(differing, high, low)


def _add_differing(differing: set[int], hashes: Buffer, listed: bytes, first: int) -> None:
    """Add the pages whose hashes (from page `first` + 1 on) are not the listed ones."""
    count = len(hashes) // HASH_SIZE
    same = max(0, min(count, len(listed) // HASH_SIZE - first))  # pages the list holds
    base, size = first * HASH_SIZE, HASH_SIZE
    # Runs of pages compared whole, a run that differs halved down to a few pages, then
    # looked at page by page: a deletion spread over a big table changes a page in most
    # runs, and looking at every page of those cost ~0.1 s a GiB (numpy would do it in C,
    # but importing it costs more); halving down to single pages would cost three times
    # the page-by-page loop where most pages changed (a VACUUM, a bulk update).
    runs = [
        (start, min(start + _COMPARED_AT_ONCE, same)) for start in range(0, same, _COMPARED_AT_ONCE)
    ]
    while runs:
        low, high = runs.pop()
        if listed[base + low * size : base + high * size] == hashes[low * size : high * size]:
            continue
        if high - low > _LOOKED_AT_ONE_BY_ONE:
            middle = (low + high) // 2
            runs += ((low, middle), (middle, high))
            continue
        for n in range(low, high):
            if listed[base + n * size : base + (n + 1) * size] != hashes[n * size : (n + 1) * size]:
                differing.add(first + n + 1)
    # past the snapshot's end the list is shorter: those pages differ
    differing.update(range(first + same + 1, first + count + 1))


def _own_pass(
    frozen: FrozenWal, listed: bytes, differing: set[int], cancel: CancelToken
) -> tuple[bytearray, bytearray]:
    """Hash each page of the frozen file, adding those not listed to `differing`; the
    bytes of each page's cell count (the hashes are not kept: bounded memory)."""
    size = frozen.page_size
    high, low = bytearray(), bytearray()
    piece = bytearray(max(size, _PASS_PIECE // size * size))
    pages = 0
    for view in _pieces(frozen, piece):
        cancel.check()
        high += piece[3 : len(view) : size]  # `view` is a view of `piece`
        low += piece[4 : len(view) : size]
        _add_differing(differing, page_hashes_of(view, size), listed, pages)
        pages += len(view) // size
    return high, low


def _pieces(frozen: FrozenWal, buffer: bytearray) -> Iterator[memoryview]:
    """The frozen file's pages, read into `buffer` piece by piece (each view is valid
    until the next one is read)."""
    whole = memoryview(buffer)
    offset, end = 0, frozen.db_size
    while offset < end:
        want = min(len(buffer), end - offset)
        frozen.read_into(whole[:want], offset)
        yield whole[:want]
        offset += want


@dataclass(frozen=True)
class ChangedPages:
    """The snapshot table's pages to read rows from, and how many rows the others hold."""

    pages: list[int]
    unchanged_rows: int
    row_pages: int  # all the pages of the table that hold rows


def changed_pages(
    past: PastPages,
    live: LivePages,
    scan: LiveScan,
    roots: tuple[int, int],
    live_roots: list[int],
) -> ChangedPages | None:
    """The pages of the snapshot table at `roots[0]` (live: `roots[1]`) that may hold a
    row live does not hold exactly; None when the rule cannot be shown (see the module)."""
    walk = _SharedChildren(scan.differing)
    live_walk = tree_pages(live, roots[1], leaves=False, children_of=walk)
    others = [root for root in live_roots if root != roots[1]]
    if not _no_overflow_differs(live, scan.differing, live_walk, others, walk):
        return None
    past_tree = _past_tree(past, live_walk, roots, scan.differing, walk)
    index_tree = kind(past.pages([roots[0]])[roots[0]], roots[0]) in INDEX_KINDS
    rows: Iterable[int] = (
        past_tree
        if index_tree
        else (n for n, image in past_tree.items() if not image or kind(image, n) == TABLE_LEAF)
    )
    # One pass over the table's pages, nothing the size of the table made beside the
    # walks (a set of them, and of those unchanged, took ~50 MB a GiB)
    differing = scan.differing
    changed: list[int] = []
    unchanged: list[int] = []
    same = count = 0
    for n in rows:
        count += 1
        if n in differing or n not in live_walk:
            changed.append(n)
            continue
        unchanged.append(n)
        if len(unchanged) >= _CELLS_AT_ONCE:
            # a page not changed is the live one: its cell count is the live pass's
            same += scan.cells_on(unchanged)
            unchanged.clear()
    same += scan.cells_on(unchanged)
    return ChangedPages(sorted(changed), same, count)


def _past_tree(
    past: PastPages,
    live_walk: dict[int, bytes],
    roots: tuple[int, int],
    differing: set[int],
    walk: _SharedChildren,
) -> dict[int, bytes]:
    """The snapshot table's b-tree as tree_pages gives it (leaves not read). It is live's
    own walk when both roots are one page and no page that walk read (the root, the
    interior pages) differs: each then holds the snapshot's bytes, so it points to the
    same children, level by level down to the leaves (all at one depth); a leaf that is
    not one in the snapshot is refused when its rows are read (core/rowmerge_changed_rows).
    A deletion spread over a big table changes leaves only: the walk is not made twice."""
    interior = [n for n, image in live_walk.items() if image]
    if (
        roots[0] == roots[1]
        and not differing.intersection(interior)
        and max(live_walk, default=0) <= past.page_count
    ):
        return live_walk
    return tree_pages(past, roots[0], leaves=False, children_of=walk)


class _SharedChildren:
    """An interior page's children, read once for both files where the page is the
    same in both (not differing): walking the same tree twice parses it once."""

    def __init__(self, differing: set[int]) -> None:
        self.differing = differing
        self.known: dict[int, list[int]] = {}

    def __call__(self, image: bytes, number: int) -> list[int]:
        if number in self.differing:
            return children(image, number)
        found = self.known.get(number)
        if found is None:
            found = self.known[number] = children(image, number)
        return found


def _no_overflow_differs(
    live: LivePages,
    differing: set[int],
    table_pages: Container[int],
    roots: list[int],
    walk: _SharedChildren,
) -> bool:
    """Whether every differing page of live is one of its b-tree (the table's
    `table_pages`, the other trees at `roots`), freelist or pointer-map pages (so none is
    an overflow page), or is past its end."""
    suspects = {n for n in differing if 1 < n <= live.page_count and n not in table_pages}
    if not suspects:
        return True
    page_one = live.pages([1])[1]
    suspects -= pointer_map_pages(page_one, live.page_count)
    suspects -= _freelist(live, page_one)
    for root in roots:
        if not suspects:
            break
        suspects -= set(tree_pages(live, root, leaves=False, children_of=walk))
    return not suspects


def _freelist(live: LivePages, page_one: bytes) -> set[int]:
    """The freelist's trunk and leaf pages."""
    found: set[int] = set()
    trunk = _U32.unpack_from(page_one, 32)[0]
    for _ in range(_MAX_TRUNKS):
        if not 0 < trunk <= live.page_count or trunk in found:
            break
        found.add(trunk)
        image = live.pages([trunk])[trunk]
        count = min(_U32.unpack_from(image, 4)[0], (len(image) - 8) // 4)
        found.update(_U32.unpack_from(image, 8 + 4 * i)[0] for i in range(count))
        trunk = _U32.unpack_from(image, 0)[0]
    return found
