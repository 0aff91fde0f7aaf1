"""A point's file written straight by the threads that make its pages (a seekable base).

The pages of a point come from two places whose byte ranges in the file never overlap:
the base's pages no commit up to the point rewrote, and the segments' newest images of
the others (PageMap.listed). So each is written where it goes by the thread that has it,
in any order, with no hand-over and no copy in between:

- the base's frames are decompressed and checked by a pool of two threads
  (core/seekable_parallel.ordered_map, a few frames a task); each task pwrites the runs
  of its pages the point takes from the base straight from the decompressed frame, and
  hashes them where a state digest is to be proven. A frame whose pages the point takes
  none of (the hour rewrote them all, or the point is shorter) is not decompressed: its
  stored bytes still go to the SHA-256 of the whole base, in order, in this thread, which
  is compared with the manifest after the last frame (as bases.base_blocks does);
- the segments' images: each segment frame that holds some is decompressed once by a
  pool of its own, whose thread writes them, a run of consecutive pages in one pwritev
  (images_writer.py);
- pages no one gives (a database that shrank below its base, then grew) are zeros,
  written last by this thread; page 1 gets its standalone header (rebuild.standalone).

What both have finished (finished_prefix.py: the prefix, and the images' own stretch past
the base) is handed to the kernel's writeback as it grows (core/writeback.py:
sync_file_range, in a thread of its own), so the final fsync finds little dirty.
The state digest is taken from the page hashes of the bytes written, gathered at their
pages' places (16 bytes a page) and folded in order at the end.

Measured (session 28, bench/point_phases --ways direct,blocks, the same rounds, on a
2-core machine at load 9-15, so wall times are mostly the scheduler's): 10-20% less
CPU than the block-by-block path (256 MB bench, 348 MB point, medians of 5: 0.64 s
against 0.72 s; 1 GiB, 1405 MB point: 2.2-2.3 s against 2.6-2.7 s), wall times within
the noise of each other. What is left is mostly decompression (the base's 1 GiB, 0.6 s of
CPU; the hour's segments, 1.15 GB of page images to use 400 MB, 0.3 s) and the kernel's
copying and allocating of the pages written (about 1.2 s at 1 GiB, as for any writer).
Since session 30 the base's pages (most of a point) are written around the page cache
(core/direct_writes.py; a task's runs that follow each other in one write) and the
segments' images through it, for the check that reads them: bench/point_phases --ways
direct,direct-cached, 1 GiB, 1405 MB point, 5 rounds, medians: 3.34 s against 5.62 s
whole restore, 4.3 against 8.5 CPU-seconds (this machine's page cache was slow that
day: `zstd -d` of the point's artifact took 2.3 s, 0.73 s the session before).

Memory: the pools' tasks in flight (seekable_parallel.AHEAD each: base tasks of 4 MiB,
segment frames of 1 MiB), the page hashes (16 bytes a page, only with a digest to
prove). Peak RSS of a 1 GiB bench point's rebuild, whole process: 94 MB.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lifeboat.core.direct_writes import DirectWrites
from lifeboat.core.history.file_writes import close_writes, write_all, write_pieces
from lifeboat.core.history.finished_prefix import FinishedPrefix
from lifeboat.core.history.images_writer import ImagesWriter
from lifeboat.core.history.pagestate import HASH_SIZE, page_hash
from lifeboat.core.history.rebuild_digest import StateDigest, page_hashes, standalone
from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import ordered_map
from lifeboat.foundation.errors import CorruptSnapshot

if TYPE_CHECKING:
    from lifeboat.core.history.points import Point
    from lifeboat.core.history.rebuild import PageMap
    from lifeboat.core.history.segment_read import SegmentReader

#: base frames per task of the pool (32 x 128 KiB): the pool's own cost stays small
_TASK_FRAMES = 32
_ZERO_RUN = 256  # pages of zeros per write


class _Spans:
    """Runs of pages that follow each other in the file, gathered for one write each:
    (first page, their bytes in order)."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, list[memoryview]]] = []
        self._next = 0  # the page after the last run's last

    def add(self, page: int, data: memoryview, count: int) -> None:
        if self.runs and page == self._next:
            self.runs[-1][1].append(data)
        else:
            self.runs.append((page, [data]))
        self._next = page + count


def fits(artifact: SeekableArtifact, size: int, page_count: int) -> bool:
    """Whether every frame of `artifact` holds whole pages and they add up to
    `page_count` (Lifeboat's seekable artifacts do; anything else is read block by block
    by rebuild.py). The seek table is proven by the SHA-256 of the file afterwards."""
    entries = artifact.entries or []
    if any(entry.decompressed % size for entry in entries):
        return False
    return sum(entry.decompressed for entry in entries) == page_count * size


class _BaseFrames:
    """The base's side: which pages of each frame the point takes, written by the pool."""

    def __init__(
        self,
        artifact: SeekableArtifact,
        mapping: PageMap,
        out: DirectWrites,
        size: int,
        last: int,
        hashes: bytearray | None,
    ) -> None:
        self._artifact, self._listed, self._out, self._size = artifact, mapping.listed, out, size
        self._last, self._hashes = last, hashes  # the last page the base gives
        # Each frame's first page and page count, read from the seek table once (each
        # read of an entry parses it).
        self.first_pages, self.pages, self._stored = array("q"), array("q"), array("q")
        page = 1
        for entry in artifact.entries or []:
            self._stored.append(entry.compressed)
            self.first_pages.append(page)
            self.pages.append(entry.decompressed // size)
            page += entry.decompressed // size

    def tasks(self) -> Iterator[range]:
        count = len(self.first_pages)
        for start in range(0, count, _TASK_FRAMES):
            yield range(start, min(start + _TASK_FRAMES, count))

    def write(self, numbers: range) -> tuple[list[bytes], int]:
        """In the pool: frames `numbers` read, the pages taken from them written (pages
        that follow each other across frames in one write: a direct write waits for the
        disk, so fewer larger ones go faster); their stored bytes (for the SHA-256) and
        the last page they cover."""
        spans = _Spans()
        raws = [self._take_frame(number, spans) for number in numbers]
        for first, pieces in spans.runs:
            write_pieces(self._out, pieces, (first - 1) * self._size)
        return raws, self.first_pages[numbers[-1]] + self.pages[numbers[-1]] - 1

    def _take_frame(self, number: int, spans: _Spans) -> bytes:
        """Frame `number`'s stored bytes; the runs of pages the point takes from it
        (hashed) added to `spans`."""
        first = self.first_pages[number]
        last = min(first + self.pages[number] - 1, self._last)
        at = bisect.bisect_left(self._listed, first)
        end = bisect.bisect_right(self._listed, last)
        if last < first or end - at == last - first + 1:  # nothing taken from it
            raw = self._artifact.raw_frame(number)  # proven by the whole file's SHA-256
            if len(raw) != self._stored[number]:
                raise CorruptSnapshot(f"{self._artifact.path.name}: frame {number} is cut short")
            return raw
        raw, plain = self._artifact.read_frame(number)
        view, size = memoryview(plain), self._size
        run = first
        for index in range(at, end + 1):
            stop = self._listed[index] if index < end else last + 1
            if run == 1 and stop > 1:  # page 1, written standalone (hashed as it is)
                self._take(spans, view[:size], 1, memoryview(standalone(bytes(view[:size]))))
                run = 2
            if stop > run:
                piece = view[(run - first) * size : (stop - first) * size]
                self._take(spans, piece, run, piece)
            run = stop + 1
        return raw

    def _take(self, spans: _Spans, pages: memoryview, page: int, data: memoryview) -> None:
        count = len(pages) // self._size
        spans.add(page, data, count)
        if self._hashes is not None:
            at = (page - 1) * HASH_SIZE
            self._hashes[at : at + count * HASH_SIZE] = page_hashes(pages, self._size)


def write_direct(
    point: Point,
    artifact: SeekableArtifact,
    readers: list[SegmentReader],
    mapping: PageMap,
    fd: int,
    *,
    flush_while_writing: bool,
    digest_pages: bool,
    around_cache: bool = False,
) -> bytes:
    """The point's pages to the file `fd` (see the module's docstring); the state
    digest (b"" if not `digest_pages`)."""
    manifest = point.base.manifest
    size, count = manifest.page_size, point.page_count
    takes = min(count, manifest.page_count, mapping.base_pages)  # the last page of the base's
    hashes = bytearray(count * HASH_SIZE) if digest_pages else None
    out = DirectWrites(fd, size, allowed=around_cache)
    try:
        mark = FinishedPrefix(fd, size, flush_while_writing, takes)
        try:
            frames = _BaseFrames(artifact, mapping, out, size, takes, hashes)
            images = ImagesWriter(mapping, readers, out, size, hashes, mark.images, count)
            try:
                _base_side(frames, artifact, manifest.sha256, manifest.id, mark)
                mark.base(count)
                images.join()
                mark.close()
            finally:
                images.close()
        finally:
            mark.stop()
        _write_zeros(mapping, out, size, takes, count, hashes)
    except BaseException:
        with contextlib.suppress(OSError):
            out.close()  # the first failure is the one said
        raise
    close_writes(out)  # failing to close is the disk's failure too
    mapping.substituted = len(mapping.listed)
    if hashes is None:
        return b""
    digest = StateDigest(size, count)
    digest.add_hashes(hashes)
    return digest.digest()


def _base_side(
    frames: _BaseFrames, artifact: SeekableArtifact, sha256: str, base_id: str, mark: FinishedPrefix
) -> None:
    """Every frame through the pool, its stored bytes hashed in order here (this thread
    has nothing else to do meanwhile; hashlib releases the GIL); the whole file's
    SHA-256 compared with the manifest's at the end."""
    digest = hashlib.sha256()
    with ordered_map(frames.write, frames.tasks()) as done:
        for raws, end in done:
            digest.update(b"".join(raws))
            mark.base(end)
    digest.update(artifact.trailer())
    matches = digest.hexdigest() == sha256
    if not matches:
        raise CorruptSnapshot(
            f"snapshot {base_id}: its file does not match its manifest", "use another snapshot"
        )


def _write_zeros(
    mapping: PageMap,
    out: DirectWrites,
    size: int,
    takes: int,
    count: int,
    hashes: bytearray | None,
) -> None:
    """Pages past the base's share that no segment gives: zeros (SQLite reads them so)."""
    listed = mapping.listed
    zero_hash = page_hash(bytes(size))
    gaps, previous = [], takes
    for page in listed[bisect.bisect_right(listed, takes) :]:
        if page > previous + 1:
            gaps.append((previous + 1, page - 1))
        previous = page
    if count > previous:
        gaps.append((previous + 1, count))
    for first, last in gaps:
        for page in range(first, last + 1, _ZERO_RUN):
            pages = min(_ZERO_RUN, last - page + 1)
            write_all(out, bytes(pages * size), (page - 1) * size)
            if hashes is not None:
                at = (page - 1) * HASH_SIZE
                hashes[at : at + pages * HASH_SIZE] = zero_hash * pages
