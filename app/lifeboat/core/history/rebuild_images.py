"""The segments' page images a point's rebuild puts in, decompressed ahead in chunks.

The rebuild (rebuild.py) walks the database's pages in order and needs, for each page a
segment gives (PageMap.listed), its newest image up to the point. A thread of its own
goes through a stretch of `listed` a chunk (CHUNK_PAGES pages) at a time: the segment
frames the chunk's pages are in are decompressed and checked two at a time by a pool
(core/seekable_parallel.ordered_map; zstd releases the GIL), each hands back only the
images of the chunk's pages it holds, and the chunk goes to the rebuild through a queue
of two. The rebuild's thread then only copies images in, hashes and writes.

A frame is read once for each chunk that needs it: pages a writer appended sit in few
frames; pages spread over the whole database may cost a frame per chunk (as the small
frame cache did before). Memory: at most four chunks of images (in use, two waiting, one
being built) and the pool's frames in flight, whatever the size of the segments.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.seekable_parallel import ordered_map
from lifeboat.foundation.errors import CorruptSnapshot

if TYPE_CHECKING:
    from lifeboat.core.history.rebuild import PageMap

#: pages of a chunk (8 MiB of 4 KiB images)
CHUNK_PAGES = 2048
_END = object()

#: one piece of work: (chunk's first index, the indices of `listed` one frame gives,
#: segment number, frame number)
_Work = tuple[int, list[int], int, int]


class SegmentImages:
    """Images of `mapping.listed[first:end]`, asked for by index in increasing order
    (`image`). `close` stops the thread and its pool; an error found ahead (a damaged
    frame) is raised by the `image` call that needed it."""

    def __init__(
        self, mapping: PageMap, readers: list[SegmentReader], size: int, first: int, end: int
    ) -> None:
        self._mapping, self._readers, self._size = mapping, readers, size
        self._first, self._end = first, end
        self._queue: queue.Queue[object] = queue.Queue(2)
        self._stopped = threading.Event()
        self._chunk_at, self._chunk = first, list[bytes]()
        self._thread = threading.Thread(target=self._run, name="lifeboat-images", daemon=True)
        if first < end:
            self._thread.start()

    def image(self, index: int) -> bytes:
        """The image of page `mapping.listed[index]`."""
        while index >= self._chunk_at + len(self._chunk):
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                raise RuntimeError(f"page image {index} asked for past the end")
            self._chunk_at, self._chunk = item  # type: ignore[misc]  # (int, list[bytes])
        return self._chunk[index - self._chunk_at]

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # handed to the rebuild, raised there
            self._put(exc)

    def _produce(self) -> None:
        images: list[bytes] = []
        at = self._first
        with ordered_map(self._read, self._work()) as done:
            for start, indices, pieces in done:
                if start != at:  # the previous chunk is whole
                    if not self._put((at, images)):
                        return
                    at, images = start, [b""] * (min(start + CHUNK_PAGES, self._end) - start)
                elif not images:
                    images = [b""] * (min(start + CHUNK_PAGES, self._end) - start)
                for index, piece in zip(indices, pieces, strict=True):
                    images[index - start] = piece
        if images:
            self._put((at, images))
        self._put(_END)

    def _work(self) -> Iterator[_Work]:
        """Chunk by chunk, the frames its pages are in, with the pages of each."""
        listed = self._mapping.listed
        segment, frame = self._mapping.segment, self._mapping.frame
        for start in range(self._first, self._end, CHUNK_PAGES):
            if self._stopped.is_set():
                return
            groups: dict[tuple[int, int], list[int]] = {}
            for index in range(start, min(start + CHUNK_PAGES, self._end)):
                page = listed[index]
                groups.setdefault((segment[page], frame[page]), []).append(index)
            for (number, at_frame), indices in groups.items():
                yield start, indices, number, at_frame

    def _read(self, work: _Work) -> tuple[int, list[int], list[bytes]]:
        """In the pool: one frame decompressed and checked, the images it gives cut out."""
        start, indices, number, at_frame = work
        reader = self._readers[number]
        plain = memoryview(reader.read_frame(at_frame))
        listed, offset, size = self._mapping.listed, self._mapping.offset, self._size
        pieces = [bytes(plain[offset[listed[i]] : offset[listed[i]] + size]) for i in indices]
        if any(len(piece) != size for piece in pieces):
            raise CorruptSnapshot(f"{reader.path.name}: a page runs past its frame")
        return start, indices, pieces

    def _put(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
