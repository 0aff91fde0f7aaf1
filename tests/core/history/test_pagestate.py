"""The page-hash map and its state digest."""

from __future__ import annotations

import hashlib
import os
import struct

import xxhash

from lifeboat.core.history.pagestate import PageState


def _digest_from_scratch(pages: list[bytes], page_size: int) -> bytes:
    hashes = [xxhash.xxh3_128_digest(p) for p in pages]
    outer = hashlib.sha256(b"LBSTATE1" + struct.pack(">II", len(pages), page_size))
    for at in range(0, len(hashes), 1024):
        outer.update(hashlib.sha256(b"".join(hashes[at : at + 1024])).digest())
    return outer.digest()


def test_the_digest_follows_every_change():
    size = 512
    pages = [os.urandom(size) for _ in range(3000)]
    state = PageState(size, b"".join(xxhash.xxh3_128_digest(p) for p in pages), len(pages))
    assert state.digest() == _digest_from_scratch(pages, size)
    pages[2500] = os.urandom(size)
    state.apply({2501: pages[2500]}, 3000)
    assert state.digest() == _digest_from_scratch(pages, size)
    pages = pages[:1500]  # the database shrank
    state.apply({}, 1500)
    assert state.digest() == _digest_from_scratch(pages, size)
    pages += [bytes(size)] * 10 + [b"x" * size]  # grew; unwritten pages read as zeros
    state.apply({1511: b"x" * size}, 1511)
    assert state.digest() == _digest_from_scratch(pages, size)
    assert state.differs(1511, xxhash.xxh3_128_digest(b"y" * size))
    assert not state.differs(1, xxhash.xxh3_128_digest(pages[0]))
    assert state.differs(1512, xxhash.xxh3_128_digest(bytes(size)))
