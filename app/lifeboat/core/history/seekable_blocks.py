"""A seekable full base's pages in blocks, its frames decompressed two at a time.

A base written in the seekable format (core/seekable_write.py: 128 KiB frames, a seek
table) is read through core/seekable_parallel.parallel_frames: a pool of two threads
decompresses and checks frames (zstd's checksum, the plain size, the seek table's
checksum) while the rebuild's thread patches, hashes and writes the ones before. Each
frame's stored bytes, then the seek table, go to a SHA-256 in a thread of its own, so by
the time the last block is handed out the whole file has been checked against the
manifest's SHA-256 exactly as the single-stream path checks it (bases.py): a point is
proven the same way whichever path read its base. A frame that fails a check raises
CorruptSnapshot naming the file and the frame.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Iterator

from lifeboat.core.manifest import Manifest
from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import Frame, parallel_frames
from lifeboat.foundation.errors import CorruptSnapshot

#: stored bytes handed to the SHA-256 thread at once (one hand-over per frame would
#: cost more in thread switches than the hashing)
_HASH_BATCH = 1 << 20


class HashAside:
    """SHA-256 of what is read, in a thread of its own (hashlib releases the GIL for
    large buffers): the thread that decompresses the base does not wait for it."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(4)
        self._thread = threading.Thread(target=self._run, name="lifeboat-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._digest.update(data)

    def update(self, data: bytes) -> None:
        if data:
            self._queue.put(data)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()


@contextlib.contextmanager
def seekable_blocks(
    artifact: SeekableArtifact, manifest: Manifest
) -> Iterator[Iterator[memoryview]]:
    """The base's pages in blocks (a frame's whole pages each), in order; checked
    against the manifest (SHA-256 of the file, page count) after the last block."""
    digest = HashAside()
    try:
        with parallel_frames(artifact) as frames:
            yield _blocks(frames, artifact, manifest, digest)
    finally:
        digest.close()


def _blocks(
    frames: Iterator[Frame], artifact: SeekableArtifact, manifest: Manifest, digest: HashAside
) -> Iterator[memoryview]:
    size = manifest.page_size
    batch: list[bytes] = []
    batched = 0
    rest = b""  # a page cut by a frame's end (not in Lifeboat's artifacts; still read right)
    count = 0
    for frame in frames:
        batch.append(frame.raw)
        batched += len(frame.raw)
        if batched >= _HASH_BATCH:
            digest.update(b"".join(batch))
            batch, batched = [], 0
        plain = rest + frame.plain if rest else frame.plain
        whole = len(plain) // size * size
        rest = plain[whole:]
        if whole:
            count += whole // size
            yield memoryview(plain)[:whole]
    batch.append(artifact.trailer())
    digest.update(b"".join(batch))
    if digest.hexdigest() != manifest.sha256 or count != manifest.page_count or rest:
        raise CorruptSnapshot(
            f"snapshot {manifest.id}: its file does not match its manifest",
            "use another snapshot",
        )
