"""Which tables of a live database hold none of the pages that differ from a snapshot's.

The restore preview (core/preview_pages.py) leaves out of its scratch file, and counts
instead of comparing, every table whose pages (b-tree and overflow, as SQLite's dbstat
lists them) are all identical in the live database and the snapshot. dbstat lists each
b-tree's pages together, one b-tree after another, so each table is judged as its pages
stream by, with one bitmap for the table being read and one for the pages left out:
memory one bit per page, whatever the size. Should a b-tree's pages ever come in two
separate stretches, nothing is proven and the caller compares in full.
"""

from __future__ import annotations

from lifeboat.core.page_bits import PageBits
from lifeboat.core.standins import StandInConnection


def unchanged_tables(
    conn: StandInConnection, names: set[str], differing: PageBits
) -> tuple[set[str], PageBits] | None:
    """(the `names` of the tables none of whose pages is in `differing`, all their pages),
    read in `conn`'s transaction; None when dbstat does not list each b-tree together."""
    limit = differing.limit
    holes, pending = PageBits(limit), PageBits(limit)
    bits, wanted = differing.bits, pending.bits
    unchanged = set(names)  # a table dbstat does not list has no page that differs
    seen: set[str] = set()
    current, clean, low, high = "", False, limit + 1, 0
    for name, number in conn.execute("select name, pageno from dbstat"):
        if name != current:
            if clean:
                holes.merge(pending, low, high)
            pending.clear(low, high)
            if name in seen:
                return None
            seen.add(name)
            current, clean, low, high = name, name in names, limit + 1, 0
        if not clean:
            continue
        page = int(number)
        if page > limit or bits[page >> 3] >> (page & 7) & 1:
            clean = False
            unchanged.discard(name)
            continue
        wanted[page >> 3] |= 1 << (page & 7)
        low, high = min(low, page), max(high, page)
    if clean:
        holes.merge(pending, low, high)
    return unchanged, holes
