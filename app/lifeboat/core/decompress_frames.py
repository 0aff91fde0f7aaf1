"""A seekable artifact (format 3) decompressed into a new file, its frames in parallel.

The frames are decompressed and checked by a small pool (core/seekable_parallel.py: two
threads; zstandard and pread release the GIL), a batch of frames per task so the pool's
own cost stays small beside the work. This thread takes the batches in order: it hashes
the stored bytes (SHA-256 of the whole file: every frame, then the seek table), writes the
plain bytes and, if asked, hashes them too. Data is synced every 64 MiB by another thread
while the writing goes on, so the final fsync is short and never stalls the pipeline.

Memory is bounded: at most `AHEAD` batches (a few MiB each) are in flight or waiting,
whatever the size of the artifact. A frame that fails a check raises CorruptSnapshot naming
it (core/seekable.py); the caller compares the whole file's SHA-256 with the manifest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.private import create_file
from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import WORKERS, ordered_map
from lifeboat.foundation.progress import CancelToken, Progress

#: frames per task: 32 x 128 KiB = 4 MiB of plain bytes, so a task costs far more than
#: handing it over
BATCH_FRAMES = 32
#: batches in flight or waiting: enough to keep both threads busy; ~16 MiB of plain bytes
AHEAD = 4
_SYNC_EVERY = 64 << 20


@dataclass(frozen=True)
class FramesResult:
    sha256: str  # of the whole stored file
    plain_size: int
    plain_sha256: str  # empty unless asked for


def decompress_frames(
    artifact: SeekableArtifact,
    dest: Path | None,
    *,
    hash_plain: bool,
    progress: Progress,
    cancel: CancelToken,
    observer: Callable[[memoryview], None] | None = None,
    durable: bool = True,
) -> FramesResult:
    """Decompress every frame of `artifact` (it has a seek table) into the new file `dest`
    (or nowhere: only hash and check), fsynced unless not `durable`. The caller removes
    `dest` if this raises."""
    assert artifact.entries is not None
    total = os.path.getsize(artifact.path)
    digest = hashlib.sha256()
    plain_digest = hashlib.sha256() if hash_plain else None
    sink = _PlainSink(dest, durable)
    stored = 0
    try:
        with ordered_map(
            lambda numbers: [artifact.read_frame(n) for n in numbers],
            _batches(len(artifact.entries)),
            workers=WORKERS,
            ahead=AHEAD,
        ) as batches:
            for batch in batches:
                cancel.check()
                for raw, plain in batch:
                    digest.update(raw)
                    if plain_digest is not None:
                        plain_digest.update(plain)
                    if observer is not None and plain:
                        observer(memoryview(plain))
                    stored += len(raw)
                sink.write([plain for _, plain in batch if plain])
                progress("decompress", stored, total)
        digest.update(artifact.trailer())
        written = sink.close()
    except BaseException:
        sink.abandon()
        raise
    return FramesResult(
        digest.hexdigest(), written, plain_digest.hexdigest() if plain_digest else ""
    )


def _batches(count: int) -> Iterator[range]:
    for start in range(0, count, BATCH_FRAMES):
        yield range(start, min(start + BATCH_FRAMES, count))


class _PlainSink:
    """Writes the plain bytes to a new file (or counts them), syncing in the background."""

    def __init__(self, dest: Path | None, durable: bool) -> None:
        self._fd = create_file(dest) if dest is not None else -1
        # A scratch file read once and deleted (a restore preview) needs no sync.
        self._durable = durable and dest is not None
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="lifeboat-sync")
        self._syncing: Future[None] | None = None
        self.count = 0
        self._synced = 0

    def write(self, pieces: Sequence[bytes]) -> None:
        size = sum(len(p) for p in pieces)
        if self._fd >= 0 and pieces:
            _write_all(self._fd, pieces, size)
        self.count += size
        if self._durable and self.count - self._synced >= _SYNC_EVERY:
            self._sync_in_background()

    def _sync_in_background(self) -> None:
        """Start syncing what is written so far, unless the last sync is still going (one
        at a time: the next one catches up)."""
        if self._syncing is not None:
            if not self._syncing.done():
                return
            self._syncing.result()  # an I/O error surfaces here
        self._syncing = self._syncer.submit(_datasync, self._fd)
        self._synced = self.count

    def close(self) -> int:
        """Wait for the background sync, fsync, close; the bytes written."""
        try:
            if self._syncing is not None:
                self._syncing.result()
            if self._durable:
                os.fsync(self._fd)
        finally:
            self.abandon()
        return self.count

    def abandon(self) -> None:
        """Stop the syncer and close the file (idempotent)."""
        self._syncer.shutdown(wait=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, pieces: Sequence[bytes], size: int) -> None:
    """Write every piece, in order, in as few system calls as the kernel allows."""
    if not hasattr(os, "writev"):  # Windows
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        return
    views = [memoryview(p) for p in pieces]
    while size:
        done = os.writev(fd, views)
        size -= done
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if views and done:
            views[0] = views[0][done:]


def _datasync(fd: int) -> None:
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS, Windows
        os.fsync(fd)
