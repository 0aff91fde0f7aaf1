"""Which b-tree (or the freelist, or the lock-byte page) each page of a database is.

SQLite's page accounting says every page of a healthy database is used exactly once: by
one b-tree (its interior and leaf pages, and the overflow pages of its cells), by the
freelist (trunks and leaves), or is the lock-byte page, never used. The b-trees' pages
are listed by SQLite itself (the dbstat virtual table walks each b-tree with SQLite's
own page decoding, overflow chains included); the freelist is walked here from the
header (trunk pages list their leaves). Each page's owner is the root page of the
b-tree that uses it, `FREE` for the freelist, `LOCK` for the lock-byte page. A point
restore uses it to check only the b-trees an hour touched (point_check.py).

Anything unexpected (a page number out of range, a page claimed twice, a freelist that
does not match its count, dbstat failing) raises `WalkFailed`, which proves nothing
about the file: the caller falls back to SQLite's whole check. Auto-vacuum databases
(pointer-map pages) are never mapped.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from array import array

#: owner of a freelist trunk or leaf page
FREE = 0
#: owner of the lock-byte page (the page holding byte 2**30; SQLite never uses it)
LOCK = 0xFFFFFFFF
#: owner of a page nothing was found to use (only while a map is being built)
UNSEEN = 0xFFFFFFFE

_PENDING_BYTE = 0x40000000
_U32 = struct.Struct(">I")


class WalkFailed(Exception):
    """The walk met something it does not expect: nothing is proven, either way."""


def lock_page(page_size: int) -> int:
    return _PENDING_BYTE // page_size + 1


class PageFile:
    """The pages of a database file, read by number (pread: nothing mapped)."""

    def __init__(self, fd: int, page_size: int, page_count: int, reserved: int) -> None:
        self.fd, self.size, self.count = fd, page_size, page_count
        self.usable = page_size - reserved

    def read(self, page: int) -> bytes:
        if not 1 <= page <= self.count:
            raise WalkFailed(f"page {page} is outside the file's {self.count} pages")
        data = os.pread(self.fd, self.size, (page - 1) * self.size)
        if len(data) != self.size:
            raise WalkFailed(f"page {page} could not be read whole")
        return data


class OwnerMap:
    """`owner[page]` for pages 1..count (index 0 unused), filled as trees are walked;
    a page claimed twice raises WalkFailed."""

    def __init__(self, page_count: int) -> None:
        self.owner = array("I", [UNSEEN]) * (page_count + 1)

    def claim(self, page: int, owner: int) -> None:
        if not 1 <= page < len(self.owner):
            raise WalkFailed(f"page {page} is outside the file")
        if self.owner[page] != UNSEEN:
            raise WalkFailed(f"page {page} is used twice")
        self.owner[page] = owner


def tree_roots(conn: sqlite3.Connection) -> dict[str, int]:
    """Each b-tree's name (as dbstat names it: a table, an index, sqlite_schema) and
    root page, from the database's schema."""
    roots = {"sqlite_schema": 1}
    for name, root in conn.execute("select name, rootpage from sqlite_schema"):
        if isinstance(root, int) and root > 0:
            roots[str(name)] = root
    return roots


def claim_trees(
    conn: sqlite3.Connection, roots: dict[str, int], owners: OwnerMap, only: set[int] | None
) -> int:
    """Claim the pages of the b-trees (all, or those rooted at `only`) for their roots, as
    SQLite's dbstat walks them (interior, leaf and overflow pages); how many."""
    claimed = 0
    names = sorted(roots) if only is None else sorted(n for n, r in roots.items() if r in only)
    for name in names:
        root = roots[name]
        try:
            rows = conn.execute("select pageno from dbstat where name = ?", (name,))
            for (page,) in rows:
                owners.claim(int(page), root)
                claimed += 1
        except sqlite3.Error as exc:  # proves nothing: the caller falls back
            raise WalkFailed(f"dbstat could not walk {name}: {exc}") from None
    return claimed


def freelist_pages(pages: PageFile, header: bytes) -> list[int]:
    """The freelist's trunks and leaves, walked from the header (bytes 32-35); their
    number must be the one the header says (36-39), none out of range or twice."""
    (trunk,) = _U32.unpack_from(header, 32)
    (expected,) = _U32.unpack_from(header, 36)
    per_trunk = pages.usable // 4 - 2
    found: list[int] = []
    while trunk:
        if len(found) >= expected or not 1 <= trunk <= pages.count:
            raise WalkFailed("the freelist does not match its count")
        data = pages.read(trunk)
        following, leaves = _U32.unpack_from(data, 0)[0], _U32.unpack_from(data, 4)[0]
        if leaves > per_trunk:
            raise WalkFailed(f"freelist trunk {trunk} lists too many leaves")
        found.append(trunk)
        found += struct.unpack_from(f">{leaves}I", data, 8)
        trunk = following
    if len(found) != expected or len(set(found)) != expected:
        raise WalkFailed("the freelist does not match its count")
    if found and (min(found) < 1 or max(found) > pages.count):
        raise WalkFailed("the freelist names a page outside the file")
    return found


def claim_freelist(pages: PageFile, header: bytes, owners: OwnerMap) -> int:
    """Claim the freelist's pages (freelist_pages) as FREE; how many."""
    found = freelist_pages(pages, header)
    for page in found:
        owners.claim(page, FREE)
    return len(found)


def claim_lock_page(pages: PageFile, owners: OwnerMap) -> None:
    page = lock_page(pages.size)
    if page <= pages.count:
        owners.claim(page, LOCK)
