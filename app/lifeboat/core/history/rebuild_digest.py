"""The state digest of a rebuilt point, from the pages written (pagestate.py's definition),
and page 1 made standalone: shared by the rebuild's two ways of writing (rebuild.py,
direct_rebuild.py)."""

from __future__ import annotations

import hashlib
import struct

import xxhash

from lifeboat.core.history.pagestate import GROUP, HASH_SIZE

_STATE_PREFIX = b"LBSTATE1"


class StateDigest:
    """The state digest of pages written in order (pagestate.py's definition)."""

    def __init__(self, page_size: int, page_count: int, wanted: bool = True) -> None:
        self.wanted = wanted  # not wanted: nothing is hashed, `digest` is b""
        self._size = page_size
        self._outer = hashlib.sha256(_STATE_PREFIX + struct.pack(">II", page_count, page_size))
        self._group = bytearray()

    def add(self, pages: memoryview) -> None:
        """Whole pages, the next in order."""
        if self.wanted:
            self.add_hashes(page_hashes(pages, self._size))

    def add_hashes(self, hashes: bytes | bytearray) -> None:
        """The hashes of the next pages in order."""
        self._group += hashes
        span = GROUP * HASH_SIZE
        while len(self._group) >= span:
            self._outer.update(hashlib.sha256(memoryview(self._group)[:span]).digest())
            del self._group[:span]

    def digest(self) -> bytes:
        if not self.wanted:
            return b""
        if self._group:
            self._outer.update(hashlib.sha256(self._group).digest())
            self._group = bytearray()
        return self._outer.digest()


def page_hashes(pages: memoryview, size: int) -> bytes:
    """The xxh3-128 hash of each page of `pages`, in order (one list comprehension: a
    restore hashes every page it writes)."""
    hash_of = xxhash.xxh3_128_digest
    return b"".join([hash_of(pages[at : at + size]) for at in range(0, len(pages), size)])


def standalone(page_one: bytes) -> bytes:
    """Page 1 with the header's file format versions set to 1 (journal mode DELETE): a
    WAL image of page 1 says 2 (WAL), which a file without its -wal does not need."""
    if page_one[:16] != b"SQLite format 3\x00":
        return page_one
    return page_one[:18] + b"\x01\x01" + page_one[20:]
