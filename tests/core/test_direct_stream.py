"""core/direct_stream.py: a file appended around the page cache by a writer thread holds
exactly the bytes given, in pieces of any size, direct or buffered; it opens nothing that
outlives it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
from pathlib import Path

import pytest
import xxhash

from lifeboat.core.direct_stream import DirectStream
from lifeboat.core.direct_writes import BUFFER
from tests.core.direct_io_probe import open_descriptors, takes_direct_io


def _pieces(total: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces: list[bytes] = []
    left = total
    while left:
        size = min(left, rng.choice([0, 1, 17, 4096, 65_537, 300_001, BUFFER, BUFFER + 5]))
        pieces.append(rng.randbytes(size))
        left -= size
    return pieces


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("total", [0, 100, BUFFER, 3 * BUFFER + 12_345])
def test_pieces_of_any_size_read_back_exactly(tmp_path: Path, direct: bool, total: int):
    path = tmp_path / "artifact"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    before = open_descriptors()
    pieces = _pieces(total, total)
    sha, xxh = hashlib.sha256(), xxhash.xxh3_128()
    stream = DirectStream(fd, direct=direct, digests=(sha, xxh))
    try:
        assert stream.direct == (direct and takes_direct_io(tmp_path))
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT  # the caller's stays buffered
        for piece in pieces:
            stream.write(memoryview(piece) if len(piece) % 2 else piece)
        stream.finish()
        os.fsync(fd)
    finally:
        stream.close()
        os.close(fd)
    assert open_descriptors() == before - 1  # the direct one closed, and the caller's
    assert path.read_bytes() == b"".join(pieces)
    # fed by the writer, in file order
    assert sha.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert xxh.hexdigest() == xxhash.xxh3_128(b"".join(pieces)).hexdigest()


def test_close_without_finish_stops_the_writer(tmp_path: Path):
    """An error in the caller (a cancel) closes the stream mid-way: the writer thread
    ends and nothing it opened stays open."""
    import threading

    fd = os.open(tmp_path / "artifact", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    before = open_descriptors()
    stream = DirectStream(fd)
    stream.write(os.urandom(2 * BUFFER + 9))
    stream.close()
    os.close(fd)
    assert open_descriptors() == before - 1
    assert not [t for t in threading.enumerate() if t.name == "lifeboat-write"]
