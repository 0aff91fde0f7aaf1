"""Where the pages that differ from a snapshot sit in the live database's b-trees, found by
reading only the b-trees' interior pages (a fraction of a percent of the file).

What SQLite's dbstat lists for those pages (each b-tree's name and the page's path in it),
without dbstat's read of every page: each b-tree is walked down from its root through its
interior pages, and the child pointers of the interior pages just above the leaves are
looked up in the set of differing pages, so no leaf is read. Every b-tree has its leaves
at one depth (the file format's balance), found by going down its first children.

A differing page no walk reaches, nor the free-page list, is an overflow page (or a
pointer-map page): whose row it continues is on a leaf, which this does not read. Then
the answer is None, and the caller asks dbstat, which reads the leaves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from lifeboat.core.btree_pages import BTreePage, NotATablePage, btree_page
from lifeboat.core.page_bits import PageBits

_U32 = struct.Struct(">I")
#: reads page n (1-based) of the live database
PageRead = Callable[[int], bytes]
#: differing pages kept as a set for the lookups (about 60 bytes each: 15 MiB at most)
_LISTED_AT_MOST = 250_000


def differing_positions(
    read: PageRead, page_size: int, page_count: int, roots: dict[str, int], differing: PageBits
) -> dict[str, list[str]] | None:
    """For each b-tree of the live database whose pages `read` gives (its name: its root
    page), the dbstat paths
    of its pages in `differing`; None when a differing page is on none of them nor free."""
    reached = PageBits(differing.limit)
    # few pages differ, as a rule: a set of them finds those among a page's children in C
    listed = set(differing) if len(differing) <= _LISTED_AT_MOST else None
    bits = differing.bits
    found: dict[str, list[str]] = {}
    for name, root in roots.items():
        paths = found.setdefault(name, [])
        if root in differing:
            paths.append("/")
        reached.add(root)
        depth = _leaf_depth(read, page_size, root, page_count)
        waiting = [(root, "/", 0)] if depth else []
        while waiting:
            number, path, level = waiting.pop()
            page = _read(read, page_size, number, page_count)
            if not page.interior:  # leaves at two depths: not a b-tree SQLite wrote
                raise NotATablePage(f"page {number} is a leaf above its b-tree's leaves")
            children = page.children()
            if level + 1 < depth:
                waiting.extend(
                    (child, f"{path}{index:03x}/", level + 1)
                    for index, child in enumerate(children)
                )
            for child in listed.intersection(children) if listed is not None else children:
                if 0 < child <= differing.limit and bits[child >> 3] >> (child & 7) & 1:
                    paths.append(f"{path}{children.index(child):03x}/")
                    reached.add(child)
    for number in _free_pages(read, page_size, page_count):
        reached.add(number)
    beyond = PageBits.span(page_count + 1, differing.limit, differing.limit)
    if differing.minus(reached).minus(beyond):
        return None
    return found


def _read(read: PageRead, page_size: int, number: int, page_count: int) -> BTreePage:
    if not 1 <= number <= page_count:
        raise NotATablePage(f"page {number} is past the live file's end")
    data = read(number)
    if len(data) != page_size:
        raise NotATablePage(f"page {number} is cut short")
    return btree_page(data, number)


def _leaf_depth(read: PageRead, page_size: int, root: int, page_count: int) -> int:
    """How many interior levels lie above the b-tree's leaves (0: the root is a leaf)."""
    depth, page = 0, _read(read, page_size, root, page_count)
    while page.interior:
        depth += 1
        if depth > 64:  # deeper than any real b-tree: a loop
            raise NotATablePage(f"the b-tree of page {root} loops")
        page = _read(read, page_size, page.children()[0], page_count)
    return depth


def _free_pages(read: PageRead, page_size: int, page_count: int) -> list[int]:
    """The free-page list: its trunk pages and the pages each lists."""
    header = read(1)
    trunk, total = _U32.unpack_from(header, 32)[0], _U32.unpack_from(header, 36)[0]
    found: list[int] = []
    while trunk and len(found) <= total:
        if not 1 <= trunk <= page_count:
            raise NotATablePage(f"free-page trunk {trunk} is past the live file's end")
        data = read(trunk)
        if len(data) != page_size:
            raise NotATablePage(f"page {trunk} is cut short")
        listed = min(_U32.unpack_from(data, 4)[0], page_size // 4 - 2)
        found.append(trunk)
        found.extend(struct.unpack_from(f">{listed}I", data, 8))
        trunk = _U32.unpack_from(data, 0)[0]
    return found
