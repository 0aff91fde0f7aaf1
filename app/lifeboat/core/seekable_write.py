"""Writing a seekable artifact (format 3): independent zstd frames, then a seek table.

Each frame holds `FRAME_PLAIN` plain bytes (a whole number of pages; a differential's
frames hold whole records), compressed with its own content size and checksum; the
zstd seekable format's seek table follows (core/history/seektable.py), so a reader
decompresses only the frames it needs (core/seekable.py) and stock `zstd -d`, which
skips skippable frames, still gives the plain bytes.

Frames are independent, so a small pool of threads compresses them at once (zstandard
releases the GIL); this thread reads, hands each block to the observer in order, and
writes the compressed frames in order. At most `2 * workers + 2` frames are in flight,
so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import xxhash
import zstandard

from lifeboat.core.compress import (
    BlockObserver,
    CompressResult,
    _HashingSink,
    removed_on_failure,
)
from lifeboat.core.direct_stream import DirectStream
from lifeboat.core.history.seektable import SeekEntry, frame_checksum, pack_seek_table
from lifeboat.core.private import open_new
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

#: 128 KiB: a page read (a query, a row lookup) decompresses little. Measured on the
#: 1 GiB bench database: a cold `count(*)` through its smallest index touches ~1,500
#: frames, 0.83 s with 1 MiB frames, 0.13 s with 128 KiB, 0.08 s with 64 KiB; the
#: artifact is 291.6, 302.2 and 309.2 MB.
FRAME_PLAIN = 128 << 10


def compress_file_seekable(
    source: Path,
    dest: Path,
    *,
    level: int = 3,
    workers: int = 0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    observer: BlockObserver | None = None,
    frame_plain: int = FRAME_PLAIN,
) -> CompressResult:
    """Compress the file `source` into the new seekable file `dest` (fsynced); the
    result's `plain_sha256` is empty (the artifact's SHA-256 and the frames' checksums
    cover the data)."""
    total = os.path.getsize(source)
    with open(source, "rb", buffering=0) as fin:
        result = compress_frames(
            read_frames(fin, frame_plain),
            dest,
            size=total,
            level=level,
            workers=workers,
            progress=progress,
            cancel=cancel,
            observer=observer,
        )
    if result.plain_size != total:
        raise OperationFailed(f"{source} changed size while it was compressed")
    return result


def read_frames(fin: BinaryIO, size: int) -> Iterator[bytes]:
    """The file in pieces of `size` bytes (the last may be shorter), each a new object
    (they are handed to other threads)."""
    while True:
        piece = fin.read(size)
        while piece and len(piece) < size:  # a short read before the end: read on
            more = fin.read(size - len(piece))
            if not more:
                break
            piece += more
        if not piece:
            return
        yield piece
        if len(piece) < size:
            return


def rechunk(blocks: Iterable[bytes | memoryview], first: int, every: int) -> Iterator[bytes]:
    """The stream of `blocks` cut into pieces of `first` bytes, then `every` bytes (the
    last may be shorter): a differential's header and whole records per frame."""
    pending = bytearray()
    want = first
    for block in blocks:
        pending += block
        while len(pending) >= want:
            yield bytes(pending[:want])
            del pending[:want]
            want = every
    if pending:
        yield bytes(pending)


def compress_frames(
    frames: Iterable[bytes],
    dest: Path,
    *,
    size: int | None,
    level: int = 3,
    workers: int = 0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    observer: BlockObserver | None = None,
    trailer: Callable[[], bytes] | None = None,
    direct: bool = True,
) -> CompressResult:
    """Compress each of `frames` into a zstd frame of the new file `dest`, then write
    what `trailer()` gives (a skippable frame, asked for once every frame was given) and
    the seek table; fsync. With `direct`, written around the page cache where the file
    system allows (core/direct_stream.py): for a file nobody reads back soon.

    On any error or cancel, `dest` is removed."""
    cancel = cancel or CancelToken()
    workers = workers or min(4, os.cpu_count() or 1)
    out_digest, out_xxh3 = hashlib.sha256(), xxhash.xxh3_128()
    digests = (out_digest, out_xxh3)
    with (
        removed_on_failure(dest, open_new(dest)) as fout,
        contextlib.closing(DirectStream(fout.fileno(), direct=direct, digests=digests)) as stream,
        ThreadPoolExecutor(workers, "lifeboat-zstd") as pool,
    ):
        sink = _HashingSink(fout, out_digest, stream, out_xxh3)
        done = _compress_all(frames, sink, pool, workers, level, observer, size, progress, cancel)
        if size is not None and done.plain != size:
            raise OperationFailed(f"expected {size} bytes to compress, got {done.plain}")
        if trailer is not None:
            extra = trailer()
            sink.write(extra)
            done.entries.append(SeekEntry(len(extra), 0, frame_checksum(b"")))
        sink.write(pack_seek_table(done.entries))
        stream.finish()
        os.fsync(fout.fileno())
    return CompressResult(sink.count, out_digest.hexdigest(), done.plain, "", sink.xxh3.hexdigest())


class _Done:
    def __init__(self) -> None:
        self.entries: list[SeekEntry] = []
        self.plain = 0


class _FrameCompressor:
    """Compresses one frame in a pool thread (a compressor per thread: they are not
    shared); returns its compressed bytes and its seek-table entry."""

    def __init__(self, level: int) -> None:
        self._level = level
        self._local = threading.local()

    def __call__(self, plain: bytes) -> tuple[bytes, SeekEntry]:
        cctx = getattr(self._local, "cctx", None)
        if cctx is None:
            cctx = self._local.cctx = zstandard.ZstdCompressor(
                level=self._level, write_checksum=True, write_content_size=True
            )
        compressed = cctx.compress(plain)
        return compressed, SeekEntry(len(compressed), len(plain), stored_checksum(compressed))


def stored_checksum(frame: bytes) -> int:
    """The seek table's checksum of a zstd frame written with a content checksum: the
    frame's last 4 bytes, little-endian, are the low 32 bits of XXH64 of its plain
    bytes, the very value the table holds (history/seektable.py), so the plain bytes
    need not be hashed a second time."""
    return int.from_bytes(frame[-4:], "little")


def _compress_all(
    frames: Iterable[bytes],
    sink: _HashingSink,
    pool: ThreadPoolExecutor,
    workers: int,
    level: int,
    observer: BlockObserver | None,
    size: int | None,
    progress: Progress,
    cancel: CancelToken,
) -> _Done:
    """Hand the frames to the pool and write their results in order (a bounded number in
    flight); an empty input still gets one (empty) frame, so the file starts with one."""
    compress = _FrameCompressor(level)
    done = _Done()
    pending: deque[Future[tuple[bytes, SeekEntry]]] = deque()

    def write_oldest() -> None:
        compressed, entry = pending.popleft().result()
        sink.write(compressed)
        done.entries.append(entry)

    try:
        for plain in frames:
            if observer is not None:
                observer(memoryview(plain))
            pending.append(pool.submit(compress, plain))
            done.plain += len(plain)
            if len(pending) >= 2 * workers + 2:
                write_oldest()
            if size is not None:
                progress("compress", done.plain, size)
            cancel.check()
        if not done.entries and not pending:
            pending.append(pool.submit(compress, b""))
        while pending:
            write_oldest()
    finally:
        for future in pending:
            future.cancel()
    return done
