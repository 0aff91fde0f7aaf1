"""Which rowids of each table can differ between a snapshot and the live database, found
from the pages that differ (core/preview_pages.py), and a scratch file holding only the
snapshot's pages SQLite needs to read those rows.

A table b-tree's page that is the same in both files (same number, same bytes) points to
the same children under the same dividing keys. Walking down both trees together from the
table's root (the same page: the schema rows are the same), every subtree whose pages,
overflow pages included, are all the same holds the same rows in both, and the walk skips
it: the live database's dbstat says which positions (paths) hold a page that differs, so
nothing of an unchanged subtree is read. Where a page differs, its children that are the
same page under the same keys in both are walked on the same way; any other child is a
subtree whose key interval is compared row by row (core/range_diff.py). Every rowid of
that interval is under that subtree in both trees (the b-tree's order), and every rowid
outside all such intervals is in a subtree the same in both: so comparing the intervals
alone gives exactly the full comparison's figures.

The scratch file is sparse: it holds the pages that differ (the caller wrote them from the
artifact) and each page of the snapshot this walk reads (copied from the live file, where
it is the same): the schema's b-tree, the path from each table's root to every interval,
each interval's whole subtree with its overflow pages, and the leaf SQLite steps onto just
past each interval. A query reading any other b-tree page would meet a zeroed page, which
SQLite reports as damage: the caller then compares in full, never with a wrong figure.
Not so an overflow page: SQLite reads a zeroed last page of a chain as the row's tail
(zeros), silently; so `copy_subtree` copies every overflow chain of every row it copies,
and nothing else on the snapshot side reads a row's payload (the step past an interval
reads a rowid only).
"""

from __future__ import annotations

import bisect
import json
import os
import sqlite3
from dataclasses import dataclass

from lifeboat.core.btree_pages import BTreePage, NotATablePage, next_overflow, overflow_heads
from lifeboat.core.btree_pages import table_page as parse_page
from lifeboat.core.live_positions import PageRead, differing_positions
from lifeboat.core.page_bits import PageBits
from lifeboat.foundation.progress import CancelToken

LOWEST, HIGHEST = -(1 << 63), (1 << 63) - 1
#: interior pages kept parsed, of each file (with their cells and keys: ~30 MiB each at most)
_INTERIOR_KEPT = 1024
#: pages the walk may copy whatever the database's size (beyond: a quarter of its pages)
_COPIED_AT_MOST = 8192
#: a rowid interval, both ends included
Interval = tuple[int, int]


class PlanTooLarge(NotATablePage):
    """So many pages differ that comparing in full costs less than this plan."""


class SnapshotPages:
    """The snapshot's pages for the sparse scratch file `scratch_fd`: a page that differs
    is there already (written from the artifact); any other is the live file's, copied
    into the scratch file the first time it is read here."""

    def __init__(
        self,
        scratch_fd: int,
        live: PageRead,
        page_size: int,
        differing: PageBits,
        counts: tuple[int, int],
        cancel: CancelToken | None = None,
    ) -> None:
        self.scratch_fd, self.live, self.page_size = scratch_fd, live, page_size
        self.differing = differing
        self.cancel = cancel or CancelToken()
        self.snapshot_count, self.live_count = counts
        self.copied = PageBits(self.snapshot_count)
        # past this many pages copied one by one, the full comparison costs less
        self.left = max(_COPIED_AT_MOST, self.snapshot_count // 4)
        self._interior: dict[int, BTreePage] = {}
        self._live_interior: dict[int, BTreePage] = {}
        # the bytes of a page the b-tree uses: the page less those reserved at its end
        self.usable = page_size - self.raw(1)[20]

    def page(self, number: int) -> BTreePage:
        """The snapshot's page `number` as a table b-tree page (now in the scratch file)."""
        page = self._interior.get(number)
        if page is None:
            page = parse_page(self.raw(number), number)
            if page.interior:  # the walks come back to them: few, kept (a bounded number)
                if len(self._interior) >= _INTERIOR_KEPT:
                    self._interior.clear()
                self._interior[number] = page
        return page

    def raw(self, number: int) -> bytes:
        if not 1 <= number <= self.snapshot_count:
            raise NotATablePage(f"page {number} is past the snapshot's end")
        at = (number - 1) * self.page_size
        if number in self.differing:
            return _read(self.scratch_fd, self.page_size, at)
        data = self.live_bytes(number)
        if number not in self.copied:
            os.pwrite(self.scratch_fd, data, at)
            self.copied.add(number)
            self.left -= 1
            if self.left < 0:
                raise PlanTooLarge("most of the snapshot's pages would be read one by one")
            if not self.left & 1023:
                self.cancel.check()
        return data

    def live_page(self, number: int) -> BTreePage | None:
        """The live file's page `number` as a b-tree page, if it is one."""
        page = self._live_interior.get(number)
        if page is not None or not 1 <= number <= self.live_count:
            return page
        try:
            page = parse_page(self.live_bytes(number), number)
        except NotATablePage:
            return None
        if page.interior:
            if len(self._live_interior) >= _INTERIOR_KEPT:
                self._live_interior.clear()
            self._live_interior[number] = page
        return page

    def live_bytes(self, number: int) -> bytes:
        """The live database's page `number`, whole (else NotATablePage)."""
        try:
            data = self.live(number)
        except OSError:  # a page cut short
            data = b""
        if len(data) != self.page_size:
            raise NotATablePage(f"page {number} is cut short")
        return data


def _read(fd: int, size: int, at: int) -> bytes:
    data = os.pread(fd, size, at)
    if len(data) != size:
        raise NotATablePage(f"{size - len(data)} bytes missing at {at}")
    return data


@dataclass
class DirtyPaths:
    """Positions (dbstat paths, "/" the root, "/00a/003/" its 11th child's 4th child) of
    one table's live b-tree that hold a page differing from the snapshot's (a leaf whose
    overflow page differs counts as differing), and under each position above them, the
    indexes of its children that lead to one."""

    dirty: set[str]
    above: dict[str, list[int]]

    @classmethod
    def of(cls, paths: list[str]) -> DirtyPaths:
        dirty = {path[: path.rindex("/") + 1] for path in paths}
        above: dict[str, set[int]] = {}
        for path in dirty:
            end = len(path) - 1
            at = path.rfind("/", 0, end)
            while at >= 0:
                above.setdefault(path[: at + 1], set()).add(int(path[at + 1 : end], 16))
                end, at = at, path.rfind("/", 0, at)
        return cls(dirty, {key: sorted(found) for key, found in above.items()})


class IntervalWalk:
    """The rowid intervals of one table that can differ, the snapshot's pages they need
    copied into the scratch file as they are read."""

    def __init__(self, pages: SnapshotPages, root: int, paths: DirtyPaths) -> None:
        self.pages, self.root, self.paths = pages, root, paths
        self.found: list[Interval] = []
        self.stepped: set[int] = set()  # ends of intervals whose next leaf is copied

    def intervals(self) -> list[Interval]:
        self._visit(self.root, "/", (LOWEST, HIGHEST))
        merged: list[Interval] = []
        for low, high in self.found:
            if merged and merged[-1][1] + 1 == low:
                merged[-1] = (merged[-1][0], high)
            else:
                merged.append((low, high))
        # SQLite's search for an interval's first rowid goes down the path walked to it;
        # its scan then steps past the last one onto the next leaf: copied as the walk
        # went (_step_past) or, where that leaf is under another parent, here
        for _, high in merged:
            if high < HIGHEST and high not in self.stepped:
                self.descend(high + 1)
        return merged

    def _visit(self, number: int, path: str, span: Interval) -> None:
        differs = number in self.pages.differing
        if not differs and path not in self.paths.dirty and path not in self.paths.above:
            return  # the same subtree in both
        page = self.pages.page(number)
        if not page.interior or (path in self.paths.dirty and not differs):
            self._whole(number, span)  # a leaf, or one whose overflow pages differ
            return
        if not differs:  # the same page: down to the children that lead to a difference
            for index in self.paths.above[path]:
                child, child_span = _child(page, index, span)
                before = len(self.found)
                self._visit(child, f"{path}{index:03x}/", child_span)
                self._step_past(page, index, child_span, before)
            return
        live = self.pages.live_page(number)
        if live is None or not live.interior:
            self._whole(number, span)
            return
        theirs = {found: index for index, found in enumerate(_spans(live, span))}
        for index, (child, child_span) in enumerate(_spans(page, span)):
            at = theirs.get((child, child_span))  # the live page's child with those keys
            before = len(self.found)
            if at is None:
                self._match(child, child_span, (live, path, span))
            else:
                self._visit(child, f"{path}{at:03x}/", child_span)
            self._step_past(page, index, child_span, before)

    def _match(self, number: int, span: Interval, anchor: tuple[BTreePage, str, Interval]) -> None:
        """The snapshot's subtree at page `number` (keys `span`), under a page that differs
        (whose live version, path and keys are `anchor`): walked on as above where the
        live b-tree has that page with those keys too, else down to its leaves, each one
        compared (a page split or merged moves a few keys, not the whole subtree)."""
        where = _find(self.pages, anchor, number, span)
        if where is not None:
            self._visit(number, where, span)
            return
        page = self.pages.page(number)
        if not page.interior:
            self._whole(number, span)
            return
        for index, (child, child_span) in enumerate(_spans(page, span)):
            before = len(self.found)
            self._match(child, child_span, anchor)
            self._step_past(page, index, child_span, before)

    def _step_past(self, page: BTreePage, index: int, span: Interval, before: int) -> None:
        """Where the last interval ends with child `index` of the snapshot's `page` (keys
        `span`; the intervals found numbered `before` until it was walked), copy the leaf
        SQLite's scan steps onto past it: the first leaf of the next child (past the last
        child, `intervals` goes down from the root)."""
        if len(self.found) == before or self.found[-1][1] != span[1] or index >= len(page.cells):
            return
        following = self.pages.page(
            page.child(index + 1) if index + 1 < len(page.cells) else page.right
        )
        while following.interior:
            following = self.pages.page(following.child(0) if following.cells else following.right)
        self.stepped.add(span[1])

    def _whole(self, number: int, span: Interval) -> None:
        """An interval compared row by row: the snapshot's whole subtree copied."""
        self.found.append(span)
        copy_subtree(self.pages, number)

    def descend(self, rowid: int) -> None:
        """The snapshot's pages from the root down to the leaf where `rowid` is or would be."""
        page = self.pages.page(self.root)
        while page.interior:
            index = _child_holding(page, rowid)
            page = self.pages.page(page.child(index) if index < len(page.cells) else page.right)


def _child_holding(page: BTreePage, rowid: int) -> int:
    """The index of the child of the interior `page` whose keys include `rowid`: that of
    the first cell whose key is >= rowid (the right-most child past them all)."""
    return bisect.bisect_left(page.keys, rowid)


def _find(
    pages: SnapshotPages, anchor: tuple[BTreePage, str, Interval], number: int, span: Interval
) -> str | None:
    """The path of page `number` in the live b-tree under `anchor` (a live page, its path
    and keys) if it is there with the keys `span`, else None."""
    page, path, keys = anchor
    while page.interior:
        index = _child_holding(page, span[0])
        child, keys = _child(page, index, keys)
        if not (keys[0] <= span[0] and span[1] <= keys[1]):
            return None  # the keys are split between children: not one subtree here
        path = f"{path}{index:03x}/"
        if child == number:
            return path if keys == span else None
        found = pages.live_page(child)
        if found is None:
            return None
        page = found
    return None


def _spans(page: BTreePage, span: Interval) -> list[tuple[int, Interval]]:
    """Each child of the interior `page` whose keys lie in `span`, with its own interval."""
    keys = page.keys
    lows = [span[0], *(key + 1 for key in keys)]
    return list(zip(page.children(), zip(lows, [*keys, span[1]], strict=True), strict=True))


def _child(page: BTreePage, index: int, span: Interval) -> tuple[int, Interval]:
    """Child `index` of the interior `page` (whose keys lie in `span`) and its interval."""
    low = page.key(index - 1) + 1 if index else span[0]
    if index < len(page.cells):
        return page.child(index), (low, page.key(index))
    return page.right, (low, span[1])


def copy_subtree(pages: SnapshotPages, root: int) -> None:
    """Read (and so copy into the scratch file) every page of the snapshot's b-tree under
    `root`, overflow pages included."""
    waiting, budget = [root], pages.snapshot_count
    while waiting:
        page = pages.page(waiting.pop())
        budget -= 1
        if page.interior:
            waiting.extend(page.children())
        else:
            for first, count in overflow_heads(page, pages.usable):
                number = first
                for _ in range(count):
                    if not number:
                        raise NotATablePage("an overflow chain ends early")
                    number = next_overflow(pages.raw(number))
                    budget -= 1
        if budget < 0:  # more pages than the file has: a loop, so damage
            raise NotATablePage("the snapshot's b-tree visits a page twice")


@dataclass
class IntervalPlan:
    """What the preview compares: the tables proven unchanged (counted only) and, for each
    other table, the rowid intervals that can differ."""

    unchanged: set[str]
    intervals: dict[str, list[Interval]]


def plan_intervals(
    conn: sqlite3.Connection, pages: SnapshotPages, names: set[str]
) -> IntervalPlan | None:
    """The plan for the live database's tables `names`, read in `conn`'s transaction on
    it (whose schema rows are the snapshot's); None where a table that differs is not
    matched on its rowid (WITHOUT ROWID, a primary key that is not the rowid, a column
    named rowid): the caller compares in full."""
    if len(pages.differing) > max(_COPIED_AT_MOST, pages.snapshot_count // 16):
        return None  # so much differs that the full comparison costs less (and its paths
        # would take memory in proportion)
    for (root,) in conn.execute(  # ANALYZE's figures, which SQLite reads with the schema
        "select rootpage from sqlite_schema where type = 'table' and name like 'sqlite_stat%'"
    ):
        copy_subtree(pages, int(root))
    found = _positions(conn, pages)
    intervals = {}
    for name in sorted(names & found.keys()):
        root = _rowid_table_root(conn, name)
        if root is None:
            return None
        intervals[name] = IntervalWalk(pages, root, DirtyPaths.of(found[name])).intervals()
    return IntervalPlan(names - found.keys(), intervals)


def _positions(conn: sqlite3.Connection, pages: SnapshotPages) -> dict[str, list[str]]:
    """The dbstat paths of the differing pages of each b-tree (those with one) of the
    live database: read from its interior pages where that tells them all
    (core/live_positions.py), else from dbstat (which reads every page, in C; only the
    few that differ come back to Python)."""
    roots = {"sqlite_schema": 1}
    for name, root in conn.execute("select name, rootpage from sqlite_schema where rootpage > 0"):
        roots[str(name)] = int(root)
    try:
        found = differing_positions(
            pages.live_bytes, pages.page_size, pages.live_count, roots, pages.differing
        )
    except NotATablePage:  # a b-tree not as SQLite writes them: dbstat tells what it holds
        found = None
    if found is not None:
        return {name: paths for name, paths in found.items() if paths}
    listed: dict[str, list[str]] = {}
    for name, path in conn.execute(
        "select name, path from dbstat where pageno in (select value from json_each(?))",
        (json.dumps(list(pages.differing)),),
    ):
        listed.setdefault(str(name), []).append(str(path))
    return listed


def _rowid_table_root(conn: sqlite3.Connection, name: str) -> int | None:
    """The root page of `name` if its rows are matched on the rowid, else None."""
    sql, root = conn.execute(
        "select coalesce(sql, ''), rootpage from sqlite_schema where type = 'table' and name = ?",
        (name,),
    ).fetchone()
    if "WITHOUT ROWID" in " ".join(str(sql).upper().split()):
        return None
    quoted = '"' + name.replace('"', '""') + '"'
    # a declared key other than the rowid has its own index ("pk"): rows match on it
    if any(row[3] == "pk" for row in conn.execute(f"pragma index_list({quoted})")):
        return None
    if any(str(row[1]).lower() == "rowid" for row in conn.execute(f"pragma table_xinfo({quoted})")):
        return None
    return int(root)
