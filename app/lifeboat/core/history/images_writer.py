"""The segments' images of a point written straight to its file from their frames.

Each segment frame that holds a page of the point (PageMap.listed: the newest image of
each page up to the point) is decompressed and checked once, by a pool of two threads
(core/seekable_parallel.ordered_map; zstd, pread and pwrite release the GIL), and the
pool's thread writes that frame's pages where they go: a run of consecutive pages in one
pwritev, straight from the decompressed frame (no copy), hashed first where a state digest
is to be proven (page 1 before its standalone header). The base's pages are written by the
base's pool meanwhile (direct_rebuild.py); the two never write the same bytes, so nothing
waits for anything's order.

The frames are taken in the order of the lowest page each gives, so once the pool's
results up to one frame are in, every page below the next frame's lowest is written:
`reached(page)` says so (direct_rebuild.Watermark starts the writeback of what is done).
Memory: the pool's frames in flight (seekable_parallel.AHEAD), whatever the segments' size.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING

import xxhash

from lifeboat.core.direct_writes import DirectWrites
from lifeboat.core.history.file_writes import write_pieces
from lifeboat.core.history.pagestate import HASH_SIZE
from lifeboat.core.history.rebuild_digest import standalone
from lifeboat.core.seekable_parallel import ordered_map
from lifeboat.foundation.errors import CorruptSnapshot

if TYPE_CHECKING:
    from lifeboat.core.history.rebuild import PageMap
    from lifeboat.core.history.segment_read import SegmentReader

#: pieces at most in one pwritev (IOV_MAX is 1024 on Linux)
_RUN_PIECES = 512

#: the pages (in order) one frame gives: ((segment number, frame number), pages)
FrameImages = tuple[tuple[int, int], array]


def frames_by_lowest_page(mapping: PageMap) -> list[FrameImages]:
    """The frames the point's images are in, each with its pages, by lowest page."""
    segment, frame = mapping.segment, mapping.frame
    groups: dict[tuple[int, int], array] = {}
    for page in mapping.listed:
        key = (segment[page], frame[page])
        pages = groups.get(key)
        if pages is None:
            pages = groups[key] = array("I")
        pages.append(page)
    return sorted(groups.items(), key=lambda item: item[1][0])


class ImagesWriter:
    """Every image of `mapping.listed` written to `out` by a thread of its own and its
    pool. `join` waits for the last and raises the first error (a damaged frame, a failed
    write); `close` stops the thread whatever happened (no write starts after it)."""

    def __init__(
        self,
        mapping: PageMap,
        readers: list[SegmentReader],
        out: DirectWrites,
        size: int,
        hashes: bytearray | None,
        reached: Callable[[int], None],
        page_count: int,
    ) -> None:
        self._mapping, self._readers, self._out, self._size = mapping, readers, out, size
        self._hashes, self._reached, self._count = hashes, reached, page_count
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifeboat-images", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            frames = frames_by_lowest_page(self._mapping)
            with ordered_map(self._write_frame, frames) as done:
                for number, _ in enumerate(done, 1):
                    if self._stopped.is_set():
                        return
                    if number < len(frames):
                        self._reached(frames[number][1][0] - 1)
            self._reached(self._count)
        except BaseException as exc:  # raised by join, in the rebuild's thread
            self._error = exc

    def _write_frame(self, item: FrameImages) -> None:
        """In the pool: one frame decompressed and checked, its pages written."""
        if self._stopped.is_set():
            return
        (number, at_frame), pages = item
        reader = self._readers[number]
        plain = memoryview(reader.read_frame(at_frame))
        offset, size = self._mapping.offset, self._size
        pieces = [plain[offset[page] : offset[page] + size] for page in pages]
        if any(len(piece) != size for piece in pieces):
            raise CorruptSnapshot(f"{reader.path.name}: a page runs past its frame")
        start = 0
        for end in range(1, len(pages) + 1):
            if end == len(pages) or pages[end] != pages[end - 1] + 1 or end - start >= _RUN_PIECES:
                self._write_run(pages[start], pieces[start:end])
                start = end

    def _write_run(self, first: int, pieces: list[memoryview]) -> None:
        if self._hashes is not None:
            hash_of = xxhash.xxh3_128_digest
            at = (first - 1) * HASH_SIZE
            self._hashes[at : at + len(pieces) * HASH_SIZE] = b"".join(
                [hash_of(piece) for piece in pieces]
            )
        if first == 1:
            pieces = [memoryview(standalone(bytes(pieces[0]))), *pieces[1:]]
        write_pieces(self._out, pieces, (first - 1) * self._size, cached=True)
