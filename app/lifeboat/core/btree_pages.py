"""Reading SQLite's table b-tree pages: which child pages an interior page points to and
the keys (rowids) that divide them, and which overflow pages a leaf's rows continue on.

Only what the restore preview's walk needs (core/preview_ranges.py), from the file
format's documentation (https://sqlite.org/fileformat2.html, "B-tree Pages"): a table
b-tree's interior page holds cells (left child page u32, rowid varint); every rowid under
a cell's left child is <= its rowid, and the page's right-most pointer holds those above
its last. A page this module does not recognise raises `NotATablePage`: the caller then
compares in full.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

INTERIOR_TABLE, LEAF_TABLE = 0x05, 0x0D
INTERIOR_INDEX, LEAF_INDEX = 0x02, 0x0A
_U16, _U32 = struct.Struct(">H"), struct.Struct(">I")


class NotATablePage(Exception):
    """The page is not the b-tree page expected (an index's, a free page, or damage)."""


@dataclass(frozen=True)
class BTreePage:
    """One b-tree page: its kind, and where its cells start in `data`."""

    data: bytes
    kind: int
    cells: tuple[int, ...]  # offset of each cell, in key order
    right: int  # right-most child (interior pages), 0 on a leaf

    @property
    def interior(self) -> bool:
        return self.kind in (INTERIOR_TABLE, INTERIOR_INDEX)

    def children(self) -> list[int]:
        """Child page numbers in key order, the right-most last (interior pages)."""
        return [_U32.unpack_from(self.data, at)[0] for at in self.cells] + [self.right]

    def child(self, index: int) -> int:
        """The left child of cell `index` (interior pages)."""
        return int(_U32.unpack_from(self.data, self.cells[index])[0])

    def key(self, index: int) -> int:
        """The rowid of cell `index` (interior pages): the largest under child `index`."""
        keys = self.__dict__.get("keys")  # all of them, where read already
        return keys[index] if keys is not None else read_varint(self.data, self.cells[index] + 4)[0]

    @cached_property
    def keys(self) -> list[int]:
        """Every cell's rowid, in order (table interior pages), read once: searches
        bisect them."""
        return [read_varint(self.data, at + 4)[0] for at in self.cells]


def table_page(data: bytes, number: int) -> BTreePage:
    """Page `number`'s `data` read as a table b-tree page."""
    page = btree_page(data, number)
    if page.kind not in (INTERIOR_TABLE, LEAF_TABLE):
        raise NotATablePage(f"page {number} is an index's")
    return page


def btree_page(data: bytes, number: int) -> BTreePage:
    """Page `number`'s `data` read as a b-tree page (a table's or an index's: an index's
    interior cells also begin with their left child)."""
    start = 100 if number == 1 else 0  # page 1 begins with the file's header
    if len(data) < start + 8:
        raise NotATablePage(f"page {number} is too short")
    kind = data[start]
    if kind not in (INTERIOR_TABLE, LEAF_TABLE, INTERIOR_INDEX, LEAF_INDEX):
        raise NotATablePage(f"page {number} is of type {kind:#x}")
    count = _U16.unpack_from(data, start + 3)[0]
    interior = kind in (INTERIOR_TABLE, INTERIOR_INDEX)
    right = _U32.unpack_from(data, start + 8)[0] if interior else 0
    pointers = start + (12 if interior else 8)
    if pointers + 2 * count > len(data):
        raise NotATablePage(f"page {number} lists more cells than it holds")
    cells = struct.unpack_from(f">{count}H", data, pointers)
    if cells and (min(cells) < pointers or max(cells) + 4 > len(data)):
        raise NotATablePage(f"page {number} has a cell outside it")
    return BTreePage(data, kind, cells, right)


def overflow_heads(page: BTreePage, usable: int) -> list[tuple[int, int]]:
    """(first overflow page, how many pages) of each row of the leaf `page` whose payload
    does not fit on it, with `usable` bytes of each page usable (page size - reserved)."""
    found = []
    most_local = usable - 35
    for at in page.cells:
        payload, at = read_varint(page.data, at)
        _, at = read_varint(page.data, at)  # the rowid
        if payload <= most_local:
            continue
        least = (usable - 12) * 32 // 255 - 23
        local = least + (payload - least) % (usable - 4)
        if local > most_local:
            local = least
        if at + local + 4 > len(page.data):
            raise NotATablePage("a row's overflow pointer lies outside its page")
        first = _U32.unpack_from(page.data, at + local)[0]
        found.append((first, -(-(payload - local) // (usable - 4))))
    return found


def next_overflow(data: bytes) -> int:
    """The page an overflow page continues on (0: the last one)."""
    return _U32.unpack_from(data, 0)[0]


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at` (1 to 9 bytes; a 64-bit two's-complement
    value): (value, offset after it)."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    else:
        value = (value << 8) | data[at + 8]
        i = 8
    if value >= 1 << 63:
        value -= 1 << 64
    return value, at + i + 1
