"""A copy of a database file kept as xxh3 hashes of its 256 KiB chunks, brought up to
date by comparing: each chunk of the file is hashed and only those whose hash differs
from the copy's are written again. A pass without a lock may read chunks a writer is
changing; a pass while nothing can write the file leaves the copy equal to it, chunk by
chunk (core/converging_copy.py, core/wal_scratch.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import xxhash

from lifeboat.foundation.progress import CancelToken, Progress

#: 256 KiB: a whole number of pages of every page size (up to 64 KiB); a commit touching a
#: few pages makes only a few chunks be copied again.
CHUNK = 256 << 10


def copy_pass(
    fd: int, out: int, hashes: list[bytes], progress: Progress, cancel: CancelToken
) -> int:
    """Hash each chunk of the file as it is now and copy those that differ from what the
    copy holds (`hashes`: all of them the first time); return how many were copied."""
    return compare_chunks(read_chunks(fd), out, hashes, progress, cancel)


def read_chunks(fd: int) -> Iterator[tuple[int, memoryview, int]]:
    """(offset, chunk, file size) of the file as it is read (a chunk is valid until the
    next one is asked for); a file that shrinks meanwhile ends early."""
    size = os.fstat(fd).st_size
    view = memoryview(bytearray(CHUNK))
    offset = 0
    while offset < size:
        got = os.preadv(fd, [view[: min(CHUNK, size - offset)]], offset)
        if got == 0:
            return
        yield offset, view[:got], size
        offset += got


def mapped_chunks(view: memoryview, size: int) -> Iterator[tuple[int, memoryview, int]]:
    for offset in range(0, size, CHUNK):
        yield offset, view[offset : min(offset + CHUNK, size)], size


def compare_chunks(
    chunks: Iterator[tuple[int, memoryview, int]],
    out: int,
    hashes: list[bytes],
    progress: Progress,
    cancel: CancelToken,
) -> int:
    """Copy each chunk whose hash differs from `hashes` (the copy's) into `out`; forget
    the hashes past the last chunk. Return how many chunks were copied."""
    index = copied = 0
    for offset, chunk, size in chunks:
        digest = xxhash.xxh3_128_digest(chunk)
        if index >= len(hashes) or hashes[index] != digest:
            _write_all(out, chunk, offset)
            copied += 1
            if index < len(hashes):
                hashes[index] = digest
            else:
                hashes.append(digest)
        index += 1
        progress("copy", offset + len(chunk), size)
        cancel.check()
    del hashes[index:]
    return copied


def _write_all(out: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(out, data, offset)
        data, offset = data[written:], offset + written
