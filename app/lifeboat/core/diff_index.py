"""A seekable differential's index frame: the sorted numbers of the pages it holds.

The frame is a zstd skippable frame (magic 0x184D2A5C, so `zstd -d` skips it) just
before the seek table: `LBDIDX\\0\\0`, then each changed page number as u32 big-endian, in
increasing order. Page k of the list is record k of the differential, so its place in
the plain stream is HEADER + k × (4 + page size): which pages changed, and where each
one is, are known without decompressing the records.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import pairwise
from pathlib import Path

from lifeboat.core.history.seektable import SKIPPABLE_HEADER, skippable_frame
from lifeboat.core.pagediff import HEADER, PAGE_NUMBER
from lifeboat.core.seekable import SeekableArtifact

INDEX_MAGIC = 0x184D2A5C
INDEX_TAG = b"LBDIDX\x00\x00"


class ChangedPages:
    """Observes a differential's frames (cut at whole records: the first also holds the
    header) and lists the page numbers of their records."""

    def __init__(self, page_size: int) -> None:
        self._record = PAGE_NUMBER.size + page_size
        self._first = True
        self.numbers = array("I")

    def __call__(self, frame: memoryview) -> None:
        start = HEADER.size if self._first else 0
        self._first = False
        for at in range(start, len(frame) - PAGE_NUMBER.size + 1, self._record):
            (number,) = PAGE_NUMBER.unpack_from(frame, at)
            if number:  # 0 is the end mark
                self.numbers.append(number)

    def index_frame(self) -> bytes:
        numbers = array("I", self.numbers)
        if numbers.itemsize != 4:  # pragma: no cover - every platform Lifeboat runs on
            raise RuntimeError("array('I') is not 4 bytes here")
        if _little_endian():
            numbers.byteswap()  # big-endian, as every number of Lifeboat's own formats
        return skippable_frame(INDEX_MAGIC, INDEX_TAG + numbers.tobytes())


def _little_endian() -> bool:
    return array("I", [1]).tobytes()[0] == 1


class DiffIndex:
    """The changed pages of a seekable differential, and where each record is."""

    def __init__(self, numbers: array[int], page_size: int) -> None:
        self.numbers = numbers
        self.page_size = page_size

    def record_offset(self, page: int) -> int | None:
        """Where page `page`'s bytes start in the plain stream (None: not in it)."""
        k = bisect_left(self.numbers, page)
        if k == len(self.numbers) or self.numbers[k] != page:
            return None
        return HEADER.size + k * (PAGE_NUMBER.size + self.page_size) + PAGE_NUMBER.size


def read_diff_index(artifact: SeekableArtifact, page_size: int) -> DiffIndex | None:
    """The index of a seekable differential (None: it has none, or it is malformed)."""
    entries = artifact.entries
    if not entries or entries[-1].decompressed != 0:
        return None
    raw = artifact.raw_frame(len(entries) - 1)
    magic, size = SKIPPABLE_HEADER.unpack_from(raw)
    body = raw[SKIPPABLE_HEADER.size :]
    if magic != INDEX_MAGIC or size != len(body) or not body.startswith(INDEX_TAG):
        return None
    listed = body[len(INDEX_TAG) :]
    if len(listed) % 4:
        return None
    numbers = array("I")
    numbers.frombytes(listed)
    if _little_endian():
        numbers.byteswap()
    if any(a >= b for a, b in pairwise(numbers)):
        return None
    return DiffIndex(numbers, page_size)


def diff_page(artifact: Path, page: int, page_size: int) -> bytes | None:
    """Page `page` as a seekable differential holds it (None: it does not hold it)."""
    with SeekableArtifact(artifact) as reader:
        index = read_diff_index(reader, page_size)
        if index is None:
            raise ValueError(f"{artifact.name} has no page index")
        offset = index.record_offset(page)
        return None if offset is None else reader.read(offset, page_size)
