"""Page-level differentials (format 2): the pages of a database that differ from a base.

A differential artifact is one zstd stream of:

    header   "LBPAGES\\0" | version u16 | page_size u32 | page_count u32 |
             base_id (8 ASCII) | base_sha256 (32 bytes)          -- 58 bytes
    records  page_number u32 | page bytes (page_size)            -- in page order
    end      page_number 0 (u32)

(all integers big-endian; pages numbered from 1). Rebuilding the database: for pages
1..page_count, take the record's bytes where there is one, else the base's page; stop
at page_count (the database may have shrunk). A base keeps a page-hash list beside it
(`.pages`: xxh3-128 of each page, 16 bytes each) so a new copy is compared against it
without reading the base. See docs/FORMAT.md.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from lifeboat.foundation.progress import CancelToken, Progress

if TYPE_CHECKING:
    from lifeboat.core.live_pass import PassShare

MAGIC = b"LBPAGES\x00"
VERSION = 1
HEADER = struct.Struct(">8sHII8s32s")
PAGE_NUMBER = struct.Struct(">I")
HASH_SIZE = 16


@dataclass(frozen=True)
class DiffHeader:
    page_size: int
    page_count: int
    base_id: str
    base_sha256: str

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            VERSION,
            self.page_size,
            self.page_count,
            self.base_id.encode("ascii"),
            bytes.fromhex(self.base_sha256),
        )

    @classmethod
    def unpack(cls, raw: bytes) -> DiffHeader:
        if len(raw) != HEADER.size:
            raise ValueError("the differential is shorter than its header")
        magic, version, page_size, page_count, base_id, base_sha = HEADER.unpack(raw)
        if magic != MAGIC:
            raise ValueError("not a Lifeboat differential (bad magic)")
        if version != VERSION:
            raise ValueError(f"differential format version {version} is not known")
        return cls(page_size, page_count, base_id.decode("ascii"), base_sha.hex())


class DiffTooLarge(Exception):
    """The differential grew past its limit: a new full base is the better snapshot."""


@dataclass
class PageScan:
    """What one pass over a copy found (filled in while the diff is streamed)."""

    page_count: int = 0
    changed: int = 0
    db_sha256: str = ""
    #: SHA-256 of the pages' xxh3-128 hashes in order (see content_digest in FORMAT.md)
    content_digest: str = ""


def page_hashes_of(block: memoryview, page_size: int) -> bytes:
    """xxh3-128 of each whole page in `block` (a multiple of the page size)."""
    return b"".join(
        xxhash.xxh3_128_digest(block[i : i + page_size]) for i in range(0, len(block), page_size)
    )


def diff_stream(
    blocks: Iterable[bytes],
    total: int,
    page_size: int,
    base_hashes: Path,
    header: DiffHeader,
    scan: PageScan,
    limit: int,
    progress: Progress,
    cancel: CancelToken,
    *,
    whole_sha256: bool = True,
    share: PassShare | None = None,
) -> Iterator[bytes]:
    """The uncompressed differential of the database `blocks` give (`total` bytes, each
    block whole pages) against the base whose page hashes are in `base_hashes`, in one
    sequential pass (bounded memory). Fills `scan` (its db_sha256 only if
    `whole_sha256`: it costs more than the rest of the pass); raises DiffTooLarge once
    more than `limit` bytes of pages have changed."""
    db_digest = hashlib.sha256() if whole_sha256 else None
    pages_digest = hashlib.sha256()
    yield header.pack()
    page_number = 0
    changed_bytes = 0
    with open(base_hashes, "rb") as hashes:
        for block in blocks:
            if db_digest is not None:
                db_digest.update(block)
            view = memoryview(block)
            known = hashes.read(len(block) // page_size * HASH_SIZE)
            block_hashes = page_hashes_of(view, page_size)
            pages_digest.update(block_hashes)  # the same digest as page by page
            if share is not None:
                share.add(block, block_hashes, page_size)
            out: list[bytes] = []
            first = page_number
            page_number += len(block_hashes) // HASH_SIZE
            # most blocks are the base's: compared whole, their pages are not looked at
            for index in [] if known == block_hashes else range(0, len(block_hashes), HASH_SIZE):
                if known[index : index + HASH_SIZE] != block_hashes[index : index + HASH_SIZE]:
                    offset = index // HASH_SIZE * page_size
                    out.append(PAGE_NUMBER.pack(first + index // HASH_SIZE + 1))
                    out.append(bytes(view[offset : offset + page_size]))
                    changed_bytes += page_size
                    scan.changed += 1
            if changed_bytes > limit:
                raise DiffTooLarge(f"{changed_bytes} bytes of pages changed")
            if out:
                yield b"".join(out)
            progress("compare", page_number * page_size, total)
            cancel.check()
    yield PAGE_NUMBER.pack(0)
    scan.page_count = page_number
    scan.db_sha256 = db_digest.hexdigest() if db_digest is not None else ""
    scan.content_digest = pages_digest.hexdigest()
    if share is not None:
        share.finish()
