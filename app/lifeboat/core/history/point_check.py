"""A point's integrity check that reads only the b-trees its commits touched, and proves
the rest (docs/SAFETY.md, rule 5: "A point of the continuous history is always checked").

The base's page owners (owners_file.py: made when its whole check passed) say which
b-tree used each page of the base. A page the point did not rewrite (not given by a
segment, within the base's pages) is the base's page byte for byte; a b-tree none of
whose base pages was rewritten is "untouched": every page its walk reads is the base's,
so the walk is the base's, its page set is the recorded one, and SQLite's check of it
gives what it gave on the base (ok; same schema, same bytes). So the point's check is:

1. nothing that says what the b-trees are changed: page 1's b-tree bytes and header
   fields (owners_file.layout_digest), no sqlite_schema page rewritten, same page size,
   a valid header page count equal to the file's, not auto-vacuum;
2. SQLite's own check (`quick_check(T)` / `integrity_check(T)`) of each table owning a
   touched b-tree (a table with its indexes; an index's table);
3. the page accounting SQLite leaves out of a per-table check, proven here: the pages
   of the touched b-trees now (our walk of them from the file's bytes, tree_pages.py,
   as SQLite's check walks them; docs/SAFETY.md says why that keeps it a proof), the
   untouched ones' recorded pages, the freelist now (walked, its count the header's)
   and the lock-byte page are exactly pages 1..N, each once.

`narrowed_check` returns SQLite's result of step 2 when steps 1 and 3 hold, else None:
the caller runs the whole check. A finding of step 2 is SQLite's own proof; nothing this
module computes alone ever calls a point damaged.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.dbcheck import CheckResult, check_tables
from lifeboat.core.history.owners_file import BaseOwners, layout_digest
from lifeboat.core.history.page_owners import (
    FREE,
    LOCK,
    PageFile,
    WalkFailed,
    freelist_pages,
    lock_page,
)
from lifeboat.core.history.tree_pages import TreeFile, tree_pages
from lifeboat.core.sqlite_file import open_copy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from lifeboat.core.history.points import RewrittenPages

#: the share of the file the touched b-trees may hold for the narrowed check to run:
#: SQLite's check of them costs about what the whole check costs for as many pages,
#: our walk of them a quarter of that (beside it), plus ~10 ms (bench/point_check_parts,
#: 2 cores at load 2.5, the writer's 3000-byte rows, pages in the page cache: touched
#: 28% of a 348 MB point: narrowed 0.057 s, whole 0.143 s; 63% of 155 MB: 0.059 vs
#: 0.070; 85% of 139 MB: 0.065 vs 0.058). Past about 75% the whole check is cheaper.
_MOST = 0.6
#: which check a base's check stands in for ("full" covers "quick")
_COVERS = {"quick": ("quick", "full"), "full": ("full",)}


def narrowed_check(
    path: Path, pages: RewrittenPages, owners: BaseOwners | None, mode: str
) -> CheckResult | None:
    """SQLite's check of the b-trees the point touched, when the rest is proven (module
    docstring); None when it cannot be (the whole check is to run)."""
    if owners is None or owners.check_mode not in _COVERS.get(mode, ()):
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        page1 = os.pread(fd, owners.page_size, 0)
        if not _same_layout(page1, owners, pages.page_count, os.fstat(fd).st_size):
            return None
        touched = _touched_roots(pages, owners)
        if touched is None:
            return None
        file = PageFile(fd, owners.page_size, pages.page_count, page1[20])
        others = _pages_of_others(file, page1, pages, owners, touched)
        if others is None or others.left > _MOST * pages.page_count:
            return None  # (the touched b-trees are most of the file: the whole check is
            # cheaper than checking and walking them)
        conn = open_copy(path)
        try:
            tables = _tables_of(conn, touched)
            if tables is None:
                return None
            # Our walk of the touched b-trees (tree_pages.py: numpy and pread, the GIL
            # mostly released) beside SQLite's check of them.
            trees = TreeFile(fd, file.size, file.usable, file.count)
            with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-pages") as pool:
                walking = pool.submit(_accounts_for_every_page, trees, sorted(touched), others)
                checked = check_tables(conn, mode, tables, path)
                try:
                    accounted = walking.result()
                except WalkFailed:  # SQLite's findings, if any, say more
                    accounted = False
        finally:
            conn.close()
        if checked is None or not checked.ok:
            return checked  # a finding is SQLite's own proof, accounted or not
        return checked if accounted else None
    except (WalkFailed, sqlite3.Error, OSError, MemoryError):
        return None  # proves nothing either way (MemoryError: SQLite's SQLITE_NOMEM)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class OtherPages:
    """How many times each page 1..N is used by what is not a touched b-tree (K, the
    freelist now, the lock-byte page): `uses[p]`; `left`, the pages none of them
    uses (what the touched b-trees must use, exactly)."""

    uses: NDArray[np.int32]
    left: int


def _pages_of_others(
    file: PageFile, page1: bytes, pages: RewrittenPages, owners: BaseOwners, touched: set[int]
) -> OtherPages | None:
    """The uses of each page by K (the untouched b-trees' recorded pages: those of
    1..`same` whose base owner is not touched, the freelist or the lock-byte page, and
    that were not rewritten), the freelist now and the lock-byte page. None if one of
    those is used twice.

    K's pages are all within `same` and not rewritten (else their root would be
    touched), page 1 among them (sqlite_schema's root, its layout proven)."""
    import numpy as np

    count = pages.page_count
    same = min(pages.same_until, owners.page_count, count)
    owner = np.frombuffer(owners.owner, dtype=np.uint32)
    uses = np.zeros(count + 1, dtype=np.int32)
    excluded = np.array(sorted(touched | {FREE, LOCK}), dtype=np.uint32)
    uses[1 : same + 1] = ~np.isin(owner[1 : same + 1], excluded)
    rewritten = np.frombuffer(pages.listed, dtype=np.uint32).astype(np.int64)
    uses[rewritten[(rewritten > 1) & (rewritten <= same)]] = 0
    used = freelist_pages(file, page1)
    lock = lock_page(file.size)
    if lock <= count:
        used.append(lock)
    if used:
        uses += np.bincount(np.array(used, dtype=np.int64), minlength=count + 1).astype(np.int32)
    if int(uses.max(initial=0)) > 1:
        return None
    return OtherPages(uses, count - int(uses.sum()))


def _accounts_for_every_page(trees: TreeFile, roots: list[int], others: OtherPages) -> bool:
    """Whether the touched b-trees' pages now (our walk of them, tree_pages.py) and the
    others' (OtherPages) use every page 1..N exactly once: each count 1, page 0 none."""
    import numpy as np

    walked = tree_pages(trees, roots)
    if len(walked) != others.left:
        return False
    uses = others.uses + np.bincount(walked, minlength=len(others.uses)).astype(np.int32)
    return len(uses) == trees.count + 1 and int(uses[0]) == 0 and bool((uses[1:] == 1).all())


def _same_layout(page1: bytes, owners: BaseOwners, count: int, file_size: int) -> bool:
    """Page 1 says the base's b-trees (its own b-tree bytes and header fields), and its
    page count is valid and the file's."""
    if len(page1) != owners.page_size or file_size != count * owners.page_size:
        return False
    if layout_digest(page1) != owners.layout_digest:
        return False
    changes, header_count = struct.unpack_from(">II", page1, 24)
    (valid_for,) = struct.unpack_from(">I", page1, 92)
    (autovacuum,) = struct.unpack_from(">I", page1, 52)
    return valid_for == changes and header_count == count and autovacuum == 0


def _touched_roots(pages: RewrittenPages, owners: BaseOwners) -> set[int] | None:
    """The roots of the base's b-trees a rewritten page (or a page cut off) belonged
    to; None if one is sqlite_schema's (page 1 aside, whose b-tree bytes are proven
    the same by the layout digest)."""
    import numpy as np

    base, limit = np.frombuffer(owners.owner, dtype=np.uint32), owners.page_count
    listed = np.frombuffer(pages.listed, dtype=np.uint32)
    owning = set(np.unique(base[listed[(listed > 1) & (listed <= limit)]]).tolist())
    beyond = max(min(pages.same_until, pages.page_count), 1)
    if beyond < limit:  # rewritten or cut off: not the base's any more
        owning.update(np.unique(base[beyond + 1 : limit + 1]).tolist())
    owning -= {FREE, LOCK}
    return None if 1 in owning else owning


def _tables_of(conn: sqlite3.Connection, roots: set[int]) -> list[str] | None:
    """The tables to check for the b-trees rooted at `roots` (an index's table; a
    WITHOUT ROWID table's b-tree is the table's); None if a root is no table's or
    index's in the point's schema."""
    by_root = {
        int(root): str(table)
        for kind, table, root in conn.execute(
            "select type, tbl_name, rootpage from sqlite_schema where type in ('table', 'index')"
        )
        if isinstance(root, int)
    }
    if not roots <= by_root.keys():
        return None
    return sorted({by_root[root] for root in roots})
