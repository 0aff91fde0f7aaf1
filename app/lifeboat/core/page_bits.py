"""A set of database page numbers kept as one bit per page.

The restore preview (core/preview_pages.py) works with sets of pages (those that differ,
those of each table, those it leaves out): Python sets of ints cost about 60 bytes a
page, 400 MB and more for a 10 GiB database. A bit per page costs 128 KiB per GiB of
4 KiB pages, and the set operations it needs (union, difference, runs of consecutive
pages) run in C over whole bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SET_BYTES = re.compile(rb"[^\x00]+")


class PageBits:
    """Page numbers 1..`limit`, one bit each (bit p % 8 of byte p // 8)."""

    __slots__ = ("bits", "limit")

    def __init__(self, limit: int, bits: bytearray | None = None) -> None:
        self.limit = limit
        self.bits = bits if bits is not None else bytearray((limit >> 3) + 1)

    @classmethod
    def span(cls, first: int, last: int, limit: int) -> PageBits:
        """Every page from `first` to `last` (inclusive) in a set of pages up to `limit`."""
        pages = cls(limit)
        if first <= last:
            ones = ((1 << (last - first + 1)) - 1) << first
            pages.bits[:] = ones.to_bytes(len(pages.bits), "little")
        return pages

    def add(self, page: int) -> None:
        self.bits[page >> 3] |= 1 << (page & 7)

    def __contains__(self, page: object) -> bool:
        if not isinstance(page, int) or not 0 < page <= self.limit:
            return False
        return bool(self.bits[page >> 3] >> (page & 7) & 1)

    def __bool__(self) -> bool:
        return _SET_BYTES.search(self.bits) is not None

    def __len__(self) -> int:
        return int.from_bytes(self.bits, "little").bit_count()

    def union(self, other: PageBits) -> PageBits:
        mine, theirs = self._ints(other)
        return self._made(mine | theirs, other)

    def minus(self, other: PageBits) -> PageBits:
        mine, theirs = self._ints(other)
        return self._made(mine & ~theirs, other)

    def merge(self, other: PageBits, first: int, last: int) -> None:
        """Add, in place, the pages of `other` (of the same limit), all between `first`
        and `last`: only the bytes that hold them are touched."""
        if first > last:
            return
        low, high = first >> 3, (last >> 3) + 1
        mine = int.from_bytes(self.bits[low:high], "little")
        theirs = int.from_bytes(other.bits[low:high], "little")
        self.bits[low:high] = (mine | theirs).to_bytes(high - low, "little")

    def clear(self, first: int, last: int) -> None:
        """Remove every page from `first` to `last` (whole bytes: the caller's pages
        between them are all it has)."""
        if first <= last:
            low, high = first >> 3, (last >> 3) + 1
            self.bits[low:high] = bytes(high - low)

    def _ints(self, other: PageBits) -> tuple[int, int]:
        return int.from_bytes(self.bits, "little"), int.from_bytes(other.bits, "little")

    def _made(self, value: int, other: PageBits) -> PageBits:
        limit = max(self.limit, other.limit)
        return PageBits(limit, bytearray(value.to_bytes((limit >> 3) + 1, "little")))

    def __iter__(self) -> Iterator[int]:
        """The pages in increasing order."""
        for first, count in self.runs(longest=1 << 62):
            yield from range(first, first + count)

    def runs(self, longest: int = 256) -> Iterator[tuple[int, int]]:
        """(first page, count) of each run of consecutive pages, at most `longest` long,
        in increasing order. Bytes of no page are skipped in C, full ones taken whole."""
        first = count = 0
        for match in _SET_BYTES.finditer(self.bits):
            for index in range(match.start(), match.end()):
                byte, base = self.bits[index], index << 3
                if byte == 0xFF and count and first + count == base:
                    count += 8
                    continue
                for bit in range(8):
                    if not byte >> bit & 1:
                        continue
                    page = base + bit
                    if count and page == first + count:
                        count += 1
                        continue
                    if count:
                        yield from _split(first, count, longest)
                    first, count = page, 1
        if count:
            yield from _split(first, count, longest)


def _split(first: int, count: int, longest: int) -> Iterator[tuple[int, int]]:
    for start in range(first, first + count, longest):
        yield start, min(longest, first + count - start)
