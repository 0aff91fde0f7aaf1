"""Writing a point's pages: the base's pages with the segments' images put in.

points.py chooses the point and publishes the file; this module does the work between,
built to run at about the speed of decompressing the base:

- the page map (page -> segment, frame, offset of its newest image up to the point) is
  built from the segments' indexes alone (a whole index at a time, numpy), and the
  segments stay open for the pages;
- a seekable full base (format 3, every frame whole pages: all Lifeboat writes) is
  written by direct_rebuild.py: the base's pool and the images' pool each pwrite their
  pages where they go, at once, no page handed to this thread (session 28);
- any other base (an old single-frame one, a differential) block by block, in order
  (_write_in_blocks): the base decompressed ahead of this thread (bases.base_blocks;
  seekable_blocks.py), the segments' images decompressed ahead too, in chunks, by a
  pool of their own (rebuild_images.py): this thread only copies them in; a block no
  segment touched is written as it came, by a writer thread (page_writer.py). When no
  check runs beside the final fsync (points.py), the file is also flushed every few
  tens of MiB while written;
- where the point ends a segment (a state digest to prove), each page's xxh3-128 hash
  is taken from the bytes written (so the state digest proves the file, not the plan).

The block-by-block path, measured on the bench's hour (1.5 GB point, 1 GiB base,
100,000 commits in 14 segments, loaded machine): before, this thread decompressed the
segments' frames itself (0.8 s of its 1.9 s) and wrote (0.8 s) while one thread
decompressed the base; then it mostly wrote, and the rebuild took about 0.6 of the time
it took. Session 27 moved the writes to their own thread (the rebuild's thread spent
about half its time in them).

Memory holds the map (12 bytes a page), a few base frames, at most four chunks of
segment images per stretch (rebuild_images.CHUNK_PAGES) and a few blocks; the direct
path, the page hashes (16 bytes a page) instead of the chunks and blocks.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lifeboat.core.history.bases import base_blocks
from lifeboat.core.history.direct_rebuild import fits, write_direct
from lifeboat.core.history.page_writer import PageWriter
from lifeboat.core.history.rebuild_digest import StateDigest, page_hashes, standalone
from lifeboat.core.history.rebuild_images import SegmentImages
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.runs import Run
from lifeboat.core.seekable import open_seekable
from lifeboat.foundation.errors import CorruptSnapshot

if TYPE_CHECKING:
    from lifeboat.core.history.points import Point

_BLOCK_PAGES = 256
_TAIL_PAGES = 64


class PageMap:
    """Page -> (segment, frame, offset) of its newest image up to the point."""

    def __init__(self, page_count: int) -> None:
        self.segment = array("i", [-1]) * (page_count + 1)
        self.frame = array("I", [0]) * (page_count + 1)
        self.offset = array("I", [0]) * (page_count + 1)
        self.base_pages = page_count  # base pages past a shrink are not the point's
        self.listed = array("I")  # the pages a segment gives, in order
        self.substituted = 0


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block: reading an hour's indexes
    makes some 100,000 commit entries (tuples, none in a cycle), whose allocation set off
    collections that cost about as much as the reading (1 GiB bench: 0.07-0.12 s of CPU
    against 0.05), all before the first page can be written."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def open_segments(point: Point) -> Iterator[list[SegmentReader]]:
    """The point's segments, open (their indexes read once, for the map and the pages)."""
    readers: list[SegmentReader] = []
    try:
        with collection_paused():
            for segment in point.segments:
                readers.append(SegmentReader(segment.path, cache_frames=0))
        yield readers
    finally:
        for reader in readers:
            reader.close()


def build_map(point: Point, readers: list[SegmentReader]) -> PageMap:
    """From the indexes: the newest image of each page up to the point that no later
    commit up to the point cut off (a shrink), and how much of the base still counts.
    With numpy, a whole index at a time: this runs before any page is written (a
    Python loop over the entries took about a tenth of a point's rebuild, an hour of
    commits being some 300,000 entries)."""
    import numpy

    mapping = PageMap(point.page_count)
    limits = [sum(1 for c in reader.commits if c.seq <= point.commit_seq) for reader in readers]
    # The smallest page count from each commit on: a page written before a commit that
    # cut the database below it is gone (SQLite reads such a page anew as zeros).
    counts = numpy.array(
        [c.page_count for reader, limit in zip(readers, limits, strict=True)
         for c in reader.commits[:limit]] + [point.page_count],
        dtype=numpy.int64,
    )  # fmt: skip
    floor = numpy.minimum.accumulate(counts[::-1])[::-1]
    mapping.base_pages = int(floor[0])
    segment = numpy.full(point.page_count + 1, -1, dtype=numpy.int32)
    frame = numpy.zeros(point.page_count + 1, dtype=numpy.uint32)
    offset = numpy.zeros(point.page_count + 1, dtype=numpy.uint32)
    first = 0
    for number, (reader, limit) in enumerate(zip(readers, limits, strict=True)):
        # (page, ordinal, frame, offset) each, sorted by page then ordinal
        entries = numpy.frombuffer(reader.index.pages_packed, dtype=">u4").reshape(-1, 4)
        entries = entries[entries[:, 1] < limit]
        entries = entries[entries[:, 0] <= floor[first + entries[:, 1].astype(numpy.int64) + 1]]
        newest = numpy.ones(len(entries), dtype=bool)  # the last entry of each page
        newest[:-1] = entries[1:, 0] != entries[:-1, 0]
        entries = entries[newest]
        pages = entries[:, 0].astype(numpy.int64)
        segment[pages], frame[pages], offset[pages] = number, entries[:, 2], entries[:, 3]
        first += limit
    mapping.segment = array("i", segment.tobytes())
    mapping.frame = array("I", frame.tobytes())
    mapping.offset = array("I", offset.tobytes())
    mapping.listed = array("I", numpy.flatnonzero(segment >= 0).astype(numpy.uint32).tobytes())
    return mapping


class _Tail:
    """The pages past the base's end (a database that grew since its base). Built while
    the base's next block is still being decompressed, so the writing thread never waits
    idle while there is work (a thread of their own would fight this one for the GIL);
    written in place (pwrite), their hashes joining the digest after the base's."""

    def __init__(
        self,
        mapping: PageMap,
        images: SegmentImages,
        writer: PageWriter,
        size: int,
        first: int,
        count: int,
        hashing: bool,
    ) -> None:
        self._mapping, self._images, self._writer, self._size = mapping, images, writer, size
        self._hashing = hashing
        self.number, self._count = first, count
        self.hashes = bytearray()

    @property
    def left(self) -> bool:
        return self.number <= self._count

    def step(self) -> None:
        """The next _TAIL_PAGES pages, built and handed to the writer."""
        size, number = self._size, self.number
        take = min(_TAIL_PAGES, self._count - number + 1)
        data = _patched(None, number, self._mapping, self._images, size, take)
        if self._hashing:
            self.hashes += page_hashes(data, size)
        self._writer.write(data, (number - 1) * size)
        self.number += take


def write_pages(
    point: Point,
    readers: list[SegmentReader],
    mapping: PageMap,
    out: BinaryIO,
    run: Run,
    scratch: Path,
    *,
    flush_while_writing: bool = True,
    digest_pages: bool = True,
    around_cache: bool = False,
) -> bytes:
    """The point's pages to `out`; the state digest (b"" if not `digest_pages`: no
    digest to compare it with, a point inside a segment). A seekable full base whose
    frames hold whole pages: written straight by the threads that make the pages
    (direct_rebuild.py); any other base: block by block, in order (_write_in_blocks).
    `flush_while_writing`: the block-by-block path flushes while it writes (an
    fdatasync every few tens of MiB, which slows its writing: not worth it beside a
    check). The direct path always starts the writeback of what it finished, in a thread
    of its own that holds no writer up (history/finished_prefix.py), so the final fsync,
    beside a check or not, finds little left. `around_cache`: the direct path writes the
    base's pages with O_DIRECT where it can (core/direct_writes.py)."""
    manifest = point.base.manifest
    seekable = (
        open_seekable(point.base.artifact, cache_frames=1) if manifest.kind == "full" else None
    )
    if seekable is not None:
        with seekable:
            if fits(seekable, manifest.page_size, manifest.page_count):
                return write_direct(
                    point,
                    seekable,
                    readers,
                    mapping,
                    out.fileno(),
                    flush_while_writing=True,
                    digest_pages=digest_pages,
                    around_cache=around_cache,
                )
    return _write_in_blocks(
        point,
        readers,
        mapping,
        out,
        run,
        scratch,
        flush_while_writing=flush_while_writing,
        digest_pages=digest_pages,
    )


def _write_in_blocks(
    point: Point,
    readers: list[SegmentReader],
    mapping: PageMap,
    out: BinaryIO,
    run: Run,
    scratch: Path,
    *,
    flush_while_writing: bool = True,
    digest_pages: bool = True,
) -> bytes:
    """The point's pages, in order, to `out`: the base's blocks as they are where no
    page of theirs changed, the pages past the base's end (_Tail) in between; return the
    state digest. `flush_while_writing`: the disk writes while pages are built (page_writer.py);
    without it the caller's final fsync writes everything (worth it when that fsync runs
    beside other work: the integrity check, points.py). Not `digest_pages` (no digest to
    compare it with: a point inside a segment), no page is hashed and b"" is returned."""
    size, count = point.base.manifest.page_size, point.page_count
    in_base = min(count, point.base.manifest.page_count)
    split = bisect.bisect_right(mapping.listed, in_base)  # the pages of the tail after
    images = SegmentImages(mapping, readers, size, 0, split)
    tail_images = SegmentImages(mapping, readers, size, split, len(mapping.listed))
    writer = PageWriter(out.fileno(), flush_while_writing)
    tail = _Tail(mapping, tail_images, writer, size, in_base + 1, count, digest_pages)
    digest = StateDigest(size, count, digest_pages)
    number = 1  # the next page of the base to write
    try:
        with base_blocks(point.base, run, scratch) as blocks:
            while tail.left and blocks.pending():
                tail.step()
            for block in blocks:  # read to the end: the base's SHA-256 is checked there
                if number <= in_base:
                    take = min(len(block) // size, in_base - number + 1)
                    data = _patched(block[: take * size], number, mapping, images, size)
                    digest.add(data)
                    if number == 1:
                        data = memoryview(standalone(bytes(data[:size])) + bytes(data[size:]))
                    writer.write(data, (number - 1) * size)
                    number += take
                while tail.left and blocks.pending():
                    tail.step()
        if number <= in_base:
            raise CorruptSnapshot(f"snapshot {point.base.id} has fewer pages than it says")
        while tail.left:
            tail.step()
        digest.add_hashes(tail.hashes)
        writer.close()
    finally:
        images.close()
        tail_images.close()
        writer.stop()
    return digest.digest()


def _patched(
    block: memoryview | None,
    first: int,
    mapping: PageMap,
    images: SegmentImages,
    size: int,
    pages: int = 0,
) -> memoryview:
    """`block` (pages first, first+1, ...; None: `pages` pages of zeros) with the
    segments' images put in and the base's pages past a shrink zeroed; the block itself
    when nothing changes."""
    last = first + (len(block) // size if block is not None else pages) - 1
    listed = mapping.listed
    at, end = bisect.bisect_left(listed, first), bisect.bisect_right(listed, last)
    if block is not None and at == end and last <= mapping.base_pages:
        return block
    data = bytearray(block) if block is not None else bytearray((last - first + 1) * size)
    if last > mapping.base_pages and block is not None:
        cut = max(first, mapping.base_pages + 1)
        data[(cut - first) * size :] = bytes((last - cut + 1) * size)
    view = memoryview(data)
    image = images.image
    for index in range(at, end):  # the hot loop of a restore: kept lean
        start = (listed[index] - first) * size
        view[start : start + size] = image(index)
    mapping.substituted += end - at
    return view
