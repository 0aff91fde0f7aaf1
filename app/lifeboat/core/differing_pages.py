"""The pages of a live database that differ from a full snapshot, and the snapshot's
version of each written into the restore preview's scratch file (core/preview_pages.py).

One read pass over the live file hashes its pages as the snapshot's page-hash list has
them (xxh3-128 each); the pages whose hashes differ, or that only one side has, differ.
As the pass finds them, the artifact's frames that hold them are decompressed by two
threads (core/seekable_parallel.py: zstd lets go of the GIL) while this thread hashes
on, and their pages are written into a new sparse file: the pass and the decompression
overlap instead of following each other. The page-hash list is proven to be the
manifest's (its SHA-256) only at the end of the pass: until then nothing written is used.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from lifeboat.core.manifest import Manifest
from lifeboat.core.page_bits import PageBits
from lifeboat.core.pagediff import HASH_SIZE, page_hashes_of
from lifeboat.core.private import create_file
from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import ordered_map
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.core.wal_direct import FrozenWal, frames_of
from lifeboat.foundation.progress import CancelToken, Progress


def differing_pages(
    frozen: FrozenWal,
    listed: Path,
    manifest: Manifest,
    artifact: SeekableArtifact,
    dest: Path,
    progress: Progress,
    cancel: CancelToken,
) -> PageBits | None:
    """Pages (1-based) that differ between the live file and the snapshot, or that only
    one of them has; page 1 always (its header is the standalone copy's, see wal_direct),
    each one the snapshot has written into the new sparse file `dest` (the caller removes
    it). None when the page-hash list `listed` is not the one its manifest names."""
    scan = _Scan(frozen, listed, manifest)
    fd = create_file(dest)
    try:
        os.ftruncate(fd, manifest.db_size)
        _artifact_pages(fd, artifact, manifest.page_size, scan.pages(progress, cancel))
    finally:
        os.close(fd)
    if not scan.proven:
        return None
    only_snapshot = PageBits.span(frozen.page_count + 1, manifest.page_count, scan.found.limit)
    return scan.found.union(only_snapshot)


class _Scan:
    """The hashing pass over the live file, against the page-hash list `listed`."""

    def __init__(self, frozen: FrozenWal, listed: Path, manifest: Manifest) -> None:
        self.frozen, self.listed, self.manifest = frozen, listed, manifest
        self.found = PageBits(max(frozen.page_count, manifest.page_count))
        self.proven = False  # the list read whole, and its SHA-256 the manifest's

    def pages(self, progress: Progress, cancel: CancelToken) -> Iterator[int]:
        """Each differing page the snapshot has, increasing, as the pass finds it; then
        the pages only the snapshot has."""
        frozen, found = self.frozen, self.found
        found.add(1)
        yield 1
        digest = hashlib.sha256()
        number = 0
        with open(self.listed, "rb") as listing:
            for piece in frames_of(frozen, FRAME_PLAIN):
                cancel.check()
                progress("read live", number * frozen.page_size, frozen.db_size)
                hashes = page_hashes_of(memoryview(piece), frozen.page_size)
                theirs = listing.read(len(hashes))
                digest.update(theirs)
                if theirs != hashes:  # most pieces are equal whole: compared in C
                    for at in range(0, len(hashes), HASH_SIZE):
                        page = number + at // HASH_SIZE + 1
                        if theirs[at : at + HASH_SIZE] != hashes[at : at + HASH_SIZE]:
                            found.add(page)
                            if 1 < page <= self.manifest.page_count:
                                yield page
                number += len(hashes) // HASH_SIZE
            while rest := listing.read(1 << 20):  # pages only the snapshot has
                digest.update(rest)
        self.proven = digest.hexdigest() == self.manifest.pages_sha256
        yield from range(frozen.page_count + 1, self.manifest.page_count + 1)


def _artifact_pages(
    fd: int, artifact: SeekableArtifact, page_size: int, pages: Iterable[int]
) -> None:
    """Write `pages` (increasing) from the artifact, decompressing each frame that holds
    one once, in the pool while `pages` is being produced."""
    starts = _frame_starts(artifact)

    def plain_of(wanted: tuple[int, list[int]]) -> tuple[int, list[int], bytes]:
        return wanted[0], wanted[1], artifact.read_frame(wanted[0])[1]

    with ordered_map(plain_of, _by_frame(starts, page_size, pages)) as frames:
        for frame, numbers, plain in frames:
            for page in numbers:
                within = (page - 1) * page_size - starts[frame]
                os.pwrite(fd, plain[within : within + page_size], (page - 1) * page_size)


def _frame_starts(artifact: SeekableArtifact) -> list[int]:
    """Where each frame's bytes start in the decompressed file."""
    assert artifact.entries is not None
    starts, offset = [], 0
    for entry in artifact.entries:
        starts.append(offset)
        offset += entry.decompressed
    return starts


def _by_frame(
    starts: list[int], page_size: int, pages: Iterable[int]
) -> Iterator[tuple[int, list[int]]]:
    """(frame, its pages among `pages`) for each frame holding one, in order (lazily: as
    many lists at once as frames in flight)."""
    frame, held = -1, list[int]()
    for page in pages:
        at = (page - 1) * page_size
        if frame + 1 < len(starts) and starts[frame + 1] <= at:
            if held:
                yield frame, held
            held = []
            frame = bisect.bisect_right(starts, at) - 1
        held.append(page)
    if held:
        yield frame, held
