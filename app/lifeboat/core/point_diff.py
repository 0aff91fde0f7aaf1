"""The pages of a differential snapshot, and of a point of a continuous history, read
through `PointPages` (core/point_pages.py) without rebuilding the database.

A differential's records (page number + page, in page order; core/pagediff.py) are
unpacked once into a private file of the run's scratch space, their page numbers kept in
a sorted array (4 bytes a changed page); a page is the differential's record where there
is one, else its base's. A history point is core/history/page_reader.ChainState with the
chain's base read as a `PointPages` (so a full base is read through its seek table or
extracted only as far as asked, never held in memory).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import IO, cast

import zstandard

from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.page_reader import BasePages, ChainPages, ChainState
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.pagediff import HEADER, PAGE_NUMBER, DiffHeader
from lifeboat.core.point_pages import PointPages, ScratchFile, check_number
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import CorruptSnapshot

_SEGMENT_FRAMES = 4


class DiffPages:
    """A differential's pages: its records laid over its base's pages."""

    def __init__(self, base: PointPages, artifact: Path, diff_id: str, run: Run, scratch: Path):
        self.base = base
        self.diff_id = diff_id
        self.numbers = array("I")  # the pages the differential holds, increasing
        self._file = ScratchFile(run.work_path(scratch, "diffpages"))
        try:
            header = self._unpack(artifact)
        except zstandard.ZstdError as exc:
            self.close()
            raise CorruptSnapshot(f"snapshot {diff_id} does not decompress ({exc})") from None
        except BaseException:
            self.close()
            raise
        self.page_size, self.page_count = header.page_size, header.page_count

    def _unpack(self, artifact: Path) -> DiffHeader:
        with open(artifact, "rb") as raw:
            stream = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], raw), read_across_frames=True
            )
            try:
                header = DiffHeader.unpack(_exact(stream, HEADER.size, self.diff_id))
            except ValueError as exc:
                raise CorruptSnapshot(f"snapshot {self.diff_id}: {exc}") from None
            if header.page_size != self.base.page_size:
                raise CorruptSnapshot(f"snapshot {self.diff_id}: its page size is not its base's")
            at = 0
            while number := PAGE_NUMBER.unpack(_exact(stream, 4, self.diff_id))[0]:
                if (self.numbers and number <= self.numbers[-1]) or number > header.page_count:
                    raise CorruptSnapshot(f"snapshot {self.diff_id}: its pages are out of order")
                self._file.write(_exact(stream, header.page_size, self.diff_id), at)
                at += header.page_size
                self.numbers.append(number)
        return header

    def page(self, number: int) -> bytes:
        check_number(self, number)
        at = bisect.bisect_left(self.numbers, number)
        if at < len(self.numbers) and self.numbers[at] == number:
            return self._file.read(self.page_size, at * self.page_size)
        if number > self.base.page_count:
            raise CorruptSnapshot(
                f"snapshot {self.diff_id} lacks page {number}, which its base does not have"
            )
        return self.base.page(number)

    def close(self) -> None:
        self._file.close()
        self.base.close()


def _exact(stream: zstandard.ZstdDecompressionReader, size: int, diff_id: str) -> bytes:
    parts, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise CorruptSnapshot(f"snapshot {diff_id} ends early (truncated)")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class _SourceBase(BasePages):
    """A chain's base read through a PointPages (instead of a forward pass kept in
    memory)."""

    def __init__(self, pages: PointPages) -> None:
        self.pages = pages
        self.size, self.count = pages.page_size, pages.page_count
        self.passes = self.reached = 0

    def get(self, wanted: Iterable[int]) -> dict[int, bytes]:
        return {n: self.pages.page(n) for n in wanted if 1 <= n <= self.count}

    def interior(self, wanted: Iterable[int]) -> dict[int, bytes]:
        return self.get(wanted)

    def close(self) -> None:
        self.pages.close()


class _Chain(ChainPages):
    """A chain whose base is a PointPages."""

    def __init__(self, base: PointPages, segments: list[SegmentFile]) -> None:
        self.base = _SourceBase(base)
        self.segments = []
        try:
            for segment in segments:
                self.segments.append(SegmentReader(segment.path, cache_frames=_SEGMENT_FRAMES))
        except BaseException:
            self.close()
            raise


class HistoryPages:
    """The pages of the database right after commit `seq` of a chain (0: its base)."""

    def __init__(self, base: PointPages, segments: list[SegmentFile], seq: int) -> None:
        self._chain = _Chain(base, segments)
        try:
            self._state = ChainState(self._chain, seq)
        except BaseException:
            self._chain.close()
            raise
        self.page_size, self.page_count = self._state.page_size, self._state.page_count

    def page(self, number: int) -> bytes:
        check_number(self, number)
        return self._state.pages([number])[number]

    def close(self) -> None:
        self._chain.close()
