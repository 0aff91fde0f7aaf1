"""The page-hash map of a chain's current state, and its state digest.

Every page of the state is known by its xxh3-128 hash (16 bytes; the same hash a full
base's `.pages` list holds, so a chain starts from that list without reading the base):
about 4 MB for a 1 GiB database at 4 KiB pages. The map serves the catch-up differential
(which pages of the live file differ from the state the chain is at) and the **state
digest** recorded at the end of each segment:

    SHA-256( "LBSTATE1" | page count u32 | page size u32 |
             SHA-256 of the hashes of pages 1-1024 | of pages 1025-2048 | ... )

(integers big-endian; the last group may be shorter). Two levels, so that a commit that
touched a few pages costs a few 16 KiB hashes, not one over the whole map. A page the
database has but no one wrote (past the end of the file) reads as zeros, as SQLite reads
it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import xxhash

HASH_SIZE = 16
GROUP = 1024
_PREFIX = b"LBSTATE1"


def page_hash(page: bytes | memoryview) -> bytes:
    return xxhash.xxh3_128_digest(page)


class PageState:
    """Page hashes of a database state (pages numbered from 1)."""

    def __init__(self, page_size: int, hashes: bytes | bytearray, page_count: int) -> None:
        if len(hashes) < page_count * HASH_SIZE:
            raise ValueError("fewer page hashes than pages")
        self.page_size = page_size
        self._hashes = bytearray(hashes[: page_count * HASH_SIZE])
        self.page_count = page_count
        self._zero = page_hash(bytes(page_size))
        self._groups: dict[int, bytes] = {}

    @classmethod
    def from_pages_file(cls, path: Path, page_size: int, page_count: int) -> PageState:
        """From a `.pages` list (xxh3-128 of each page, in order) beside a full base."""
        return cls(page_size, Path(path).read_bytes(), page_count)

    @classmethod
    def from_file(cls, path: Path, page_size: int) -> PageState:
        """By hashing a database file's pages."""
        hashes = bytearray()
        count = 0
        with open(path, "rb") as fh:
            while block := fh.read(page_size * 1024):
                view = memoryview(block)
                for at in range(0, len(block) - page_size + 1, page_size):
                    hashes += page_hash(view[at : at + page_size])
                    count += 1
        return cls(page_size, hashes, count)

    def copy(self) -> PageState:
        other = PageState(self.page_size, self._hashes, self.page_count)
        other._groups = dict(self._groups)
        return other

    def hash_of(self, number: int) -> bytes:
        at = (number - 1) * HASH_SIZE
        return bytes(self._hashes[at : at + HASH_SIZE])

    def hashes(self) -> bytes:
        return bytes(self._hashes)

    def differs(self, number: int, image_hash: bytes) -> bool:
        return number > self.page_count or self.hash_of(number) != image_hash

    def apply(self, pages: Mapping[int, bytes], page_count: int) -> None:
        """The state after a commit that wrote `pages` and left `page_count` pages."""
        self.apply_hashes(((n, page_hash(image)) for n, image in pages.items()), page_count)

    def apply_hashes(self, hashed: Iterable[tuple[int, bytes]], page_count: int) -> None:
        self._resize(page_count)
        for number, digest in hashed:
            if number > page_count:
                continue  # written, then cut off by the same commit
            at = (number - 1) * HASH_SIZE
            self._hashes[at : at + HASH_SIZE] = digest
            self._groups.pop((number - 1) // GROUP, None)

    def _resize(self, page_count: int) -> None:
        if page_count == self.page_count:
            return
        first_changed = min(page_count, self.page_count) // GROUP
        if page_count < self.page_count:
            del self._hashes[page_count * HASH_SIZE :]
        else:
            self._hashes += self._zero * (page_count - self.page_count)
        for group in [g for g in self._groups if g >= first_changed]:
            del self._groups[group]
        self.page_count = page_count

    def digest(self) -> bytes:
        """The state digest (see the module's docstring)."""
        outer = hashlib.sha256(_PREFIX + struct.pack(">II", self.page_count, self.page_size))
        groups = (self.page_count + GROUP - 1) // GROUP
        span = GROUP * HASH_SIZE
        for group in range(groups):
            inner = self._groups.get(group)
            if inner is None:
                inner = hashlib.sha256(self._hashes[group * span : (group + 1) * span]).digest()
                self._groups[group] = inner
            outer.update(inner)
        return outer.digest()
