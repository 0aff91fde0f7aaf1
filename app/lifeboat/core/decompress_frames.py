"""A seekable artifact (format 3) decompressed into a new file, its frames in parallel.

The frames are decompressed and checked by a small pool (core/seekable_parallel.py: two
threads; zstandard and pread release the GIL), a batch of frames per task so the pool's
own cost stays small beside the work. This thread takes the batches in order: it hashes
the stored bytes (SHA-256 of the whole file: every frame, then the seek table), hands the
plain bytes to a writer thread and, if asked, hashes them too. The file goes to disk while
it is written (core/writeback.py), so the final fsync is short.

Memory is bounded: at most AHEAD batches (4 MiB of plain bytes each) are in flight in the
pool and WRITES_AHEAD wait for the writer, whatever the size of the artifact. A frame that
fails a check raises CorruptSnapshot naming it (core/seekable.py); the caller compares the
whole file's SHA-256 with the manifest.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lifeboat.core.page_digest import PageDigest, whole_page_hashes
from lifeboat.core.private import create_file
from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import WORKERS, ordered_map
from lifeboat.core.writeback import Writeback
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.progress import CancelToken, Progress

#: frames per task: 32 x 128 KiB = 4 MiB of plain bytes, so a task costs far more than
#: handing it over
BATCH_FRAMES = 32
#: batches in flight or waiting: enough to keep both threads busy; ~16 MiB of plain bytes
AHEAD = 4
#: batches handed to the writer and not yet written: rides out a write that blocks for a
#: while (~32 MiB)
WRITES_AHEAD = 8


class Overlay(Protocol):
    """What changes a base's plain bytes into another database's (core/reconstruct_frames)."""

    def frame(self, plain: bytes, hashes: bytes | None) -> tuple[bytes, bytes | None]:
        """The next frame's plain bytes (and page hashes, if given) as they are to be."""
        ...

    def tail(self) -> Iterator[tuple[bytes, bytes | None]]:
        """What comes after the base's last frame."""
        ...


@dataclass(frozen=True)
class FramesResult:
    sha256: str  # of the whole stored file
    plain_size: int
    plain_sha256: str  # empty unless asked for
    pages_digest: str = ""  # the content digest (core/page_digest.py), if asked for


def decompress_frames(
    artifact: SeekableArtifact,
    dest: Path | None,
    *,
    hash_plain: bool,
    progress: Progress,
    cancel: CancelToken,
    observer: Callable[[memoryview], None] | None = None,
    durable: bool = True,
    page_size: int = 0,
    written: WrittenSoFar | None = None,
    overlay: Overlay | None = None,
) -> FramesResult:
    """Decompress every frame of `artifact` (it has a seek table) into the new file `dest`
    (or nowhere: only hash and check), fsynced unless not `durable`; with a `page_size`,
    also its content digest (the pool's threads hash the pages); `written` is told how
    far `dest` is written (_PlainSink); `overlay` changes the plain bytes before they
    are hashed and written (a differential rebuilt on this base: core/reconstruct_frames.py).
    The caller removes `dest` if this raises."""
    assert artifact.entries is not None
    total = os.path.getsize(artifact.path)
    digest = hashlib.sha256()
    plain_digest = hashlib.sha256() if hash_plain else None
    pages = PageDigest(page_size) if page_size else None
    sink = _PlainSink(dest, durable, written)
    stored = 0
    read_batch = functools.partial(_read_batch, artifact, page_size)
    try:
        with ordered_map(
            read_batch, _batches(len(artifact.entries)), workers=WORKERS, ahead=AHEAD
        ) as batches:
            for batch in batches:
                cancel.check()
                if overlay is not None:
                    batch = [(raw, *overlay.frame(plain, hashes)) for raw, plain, hashes in batch]
                for raw, plain, hashes in batch:
                    digest.update(raw)
                    if plain_digest is not None:
                        plain_digest.update(plain)
                    if pages is not None and plain:
                        pages.update(plain, hashes)
                    if observer is not None and plain:
                        observer(memoryview(plain))
                    stored += len(raw)
                sink.write([plain for _, plain, _ in batch if plain])
                progress("decompress", stored, total)
        cancel.check()  # asked for during the last batch: nothing is kept
        if overlay is not None:
            _write_tail(overlay, sink, plain_digest, pages)
        digest.update(artifact.trailer())
        plain_size = sink.close()
    except BaseException:
        sink.abandon()
        raise
    return FramesResult(
        digest.hexdigest(),
        plain_size,
        plain_digest.hexdigest() if plain_digest else "",
        pages.hexdigest() if pages is not None else "",
    )


def _read_batch(
    artifact: SeekableArtifact, page_size: int, numbers: range
) -> list[tuple[bytes, bytes, bytes | None]]:
    """Frames `numbers` as stored and decompressed (checked), with their page hashes
    when `page_size` is given (in a pool thread)."""
    frames = [artifact.read_frame(n) for n in numbers]
    return [
        (raw, plain, whole_page_hashes(plain, page_size) if page_size else None)
        for raw, plain in frames
    ]


def _write_tail(
    overlay: Overlay,
    sink: _PlainSink,
    plain_digest: hashlib._Hash | None,
    pages: PageDigest | None,
) -> None:
    """What the overlay gives past the artifact's last frame, hashed and written."""
    for plain, hashes in overlay.tail():
        if plain_digest is not None:
            plain_digest.update(plain)
        if pages is not None:
            pages.update(plain, hashes)
        sink.write([plain])


def _batches(count: int) -> Iterator[range]:
    for start in range(0, count, BATCH_FRAMES):
        yield range(start, min(start + BATCH_FRAMES, count))


class _PlainSink:
    """Writes the plain bytes to a new file (or only counts them) in a thread of its own:
    a write that blocks (the disk is busy, the kernel throttles dirty pages) holds up
    neither the hashing nor the decompression. At most WRITES_AHEAD batches wait. With
    `written`, the file is made its whole size first (a reader following the writes
    sees a file of the right size), and `written` is told how far it is written."""

    def __init__(self, dest: Path | None, durable: bool, written: WrittenSoFar | None) -> None:
        self._fd = create_file(dest) if dest is not None else -1
        self._written = written if self._fd >= 0 else None
        if self._written is not None:
            os.ftruncate(self._fd, self._written.size)
        # A scratch file read once and deleted (a restore preview) needs no sync.
        self._writeback = Writeback(self._fd) if durable and dest is not None else None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lifeboat-write")
        self._pending: deque[Future[None]] = deque()
        self.count = 0

    def write(self, pieces: Sequence[bytes]) -> None:
        size = sum(len(p) for p in pieces)
        self.count += size
        if self._fd < 0 or not size:
            return
        self._pending.append(self._writer.submit(self._write, pieces, self.count))
        while len(self._pending) > WRITES_AHEAD:
            self._pending.popleft().result()  # a write's error surfaces here

    def _write(self, pieces: Sequence[bytes], reached: int) -> None:
        _write_all(self._fd, pieces)
        if self._writeback is not None:
            self._writeback.reached(reached)
        if self._written is not None:
            self._written.reached(reached)

    def close(self) -> int:
        """Finish the writes, fsync (if durable) and close; the bytes written."""
        try:
            while self._pending:
                self._pending.popleft().result()
            if self._writeback is not None:
                os.fsync(self._fd)
        finally:
            self.abandon()
        return self.count

    def abandon(self) -> None:
        """Drop the writes not started, wait for the one going on, close the file
        (idempotent)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._writer.shutdown(wait=True, cancel_futures=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, pieces: Sequence[bytes]) -> None:
    """Write every piece, in order. One write per piece, not writev: measured on Linux 6.x
    (ext4), writev of 32 pieces of 128 KiB took 2-10 times the kernel time of writes."""
    for piece in pieces:
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view) :]
