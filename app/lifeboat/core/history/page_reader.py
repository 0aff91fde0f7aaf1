"""Single pages of a chain at any commit, without rebuilding the database.

A page at commit S is its newest image in the chain's segments up to S (found by
bisecting each segment's page index, newest segment first), unless a commit after
that image cut the database below it (then it reads as zeros, as SQLite reads it),
else the base's page. A seekable base (format 3, core/seekable_pages.py) is read frame
by frame where the pages are, without a forward pass (a differential's pages from its
records, the others from its full base's frames). An old base is one zstd frame, so its
pages are read in one forward pass up to the highest page asked for; every interior
b-tree page passed on the way is kept, so walking trees later rarely needs another
pass. A differential base is rebuilt once into the run's scratch folder and read in
place (removed on close).

Nothing is written besides that scratch file. The base's SHA-256 is not checked here
(a partial read cannot check it): what this reads informs, it never restores.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import IO, cast

import zstandard

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.btree import INTERIOR
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.reconstruct import reconstruct
from lifeboat.core.runs import Run
from lifeboat.core.seekable_pages import open_pages
from lifeboat.foundation.errors import CorruptSnapshot

_BLOCK_PAGES = 256
_CACHE_FRAMES = 8  # of a seekable base: 8 MiB


class BasePages:
    """The base's pages by number, read forward and cached (interior pages kept)."""

    def __init__(self, base: BaseRef, run: Run, scratch: Path) -> None:
        self.base = base
        self.size = base.manifest.page_size
        self.count = base.manifest.page_count
        self._cache: dict[int, bytes] = {}
        self._stream: zstandard.ZstdDecompressionReader | None = None
        self._raw: IO[bytes] | None = None
        self._next = 1  # the page the open stream gives next
        self._file: Path | None = None
        self._fd: int | None = None
        self.passes = 0  # forward passes started (for the bench)
        self.reached = 0  # the furthest page a pass read
        parent = base.parent
        self._seekable = open_pages(
            base.artifact,
            base.manifest,
            (parent.artifact, parent.manifest) if parent is not None else None,
            cache_frames=_CACHE_FRAMES,
        )
        if self._seekable is None and base.manifest.kind != "full":
            if parent is None:
                raise CorruptSnapshot(f"snapshot {base.id} has no full base here")
            self._file = run.work_path(scratch, "base.sqlite")
            reconstruct(
                parent.artifact, parent.manifest, base.artifact, base.manifest, self._file,
                durable=False,
            )  # fmt: skip
            self._fd = os.open(self._file, os.O_RDONLY)

    def get(self, wanted: Iterable[int]) -> dict[int, bytes]:
        found = {n: self._cache[n] for n in wanted if n in self._cache}
        missing = sorted({n for n in wanted if n not in found and 1 <= n <= self.count})
        if self._fd is not None:
            for n in missing:
                found[n] = self._cache[n] = os.pread(self._fd, self.size, (n - 1) * self.size)
            return found
        if self._seekable is not None:
            for n in missing:
                found[n] = self._seekable_page(n)
            return found
        if missing and missing[0] < self._next:
            self._close_stream()
        if missing:
            self._read_to(set(missing))
            found.update((n, self._cache[n]) for n in missing)
        return found

    def interior(self, wanted: Iterable[int]) -> dict[int, bytes]:
        """Like get(), but a page the open pass went by without keeping is left out:
        it is no interior page (a pass keeps every interior page it reads)."""
        if self._fd is not None or self._seekable is not None:
            return self.get(wanted)
        return self.get(n for n in wanted if n in self._cache or n >= self._next)

    def _seekable_page(self, number: int) -> bytes:
        """A page read from its frame; kept if it is an interior b-tree page (tree walks
        come back to those), else only the frame stays in the artifact's small cache."""
        assert self._seekable is not None
        page = self._seekable.page(number)
        if number == 1 or page[0] in INTERIOR:
            self._cache[number] = page
        return page

    def _read_to(self, wanted: set[int]) -> None:
        """Read on until every page of `wanted` (none before the stream's place) is
        cached."""
        if self._stream is None:
            self._raw = open(self.base.artifact, "rb")  # noqa: SIM115 - kept open across calls
            self._stream = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], self._raw), read_across_frames=True
            )
            self._next = 1
            self.passes += 1
        size, last = self.size, max(wanted)
        while last not in self._cache:
            block = _read_full(self._stream, size * _BLOCK_PAGES)
            if len(block) < size:
                raise CorruptSnapshot(f"snapshot {self.base.id} ends before page {last}")
            first = self._next
            types = block[0 : len(block) : size]
            for i, page_type in enumerate(types):
                page = first + i
                if page_type in INTERIOR or page in wanted or page == 1:
                    self._cache[page] = block[i * size : (i + 1) * size]
            self._next = first + len(block) // size
            self.reached = max(self.reached, self._next - 1)

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def close(self) -> None:
        self._close_stream()
        if self._seekable is not None:
            self._seekable.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._file)


def _read_full(reader: zstandard.ZstdDecompressionReader, size: int) -> bytes:
    parts, left = [], size
    while left:
        try:
            chunk = reader.read(left)
        except zstandard.ZstdError as exc:
            raise CorruptSnapshot(f"a base does not decompress ({exc})") from None
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class ChainPages:
    """A chain (its base and effective segments, in order) opened for page reads."""

    def __init__(self, base: BaseRef, segments: list[SegmentFile], run: Run, scratch: Path) -> None:
        self.base = BasePages(base, run, scratch)
        self.segments: list[SegmentReader] = []
        try:
            for segment in segments:
                self.segments.append(SegmentReader(segment.path, cache_frames=8))
        except BaseException:
            self.close()
            raise

    def locate(self, seq: int) -> tuple[int, int]:
        """(segment number, ordinal) of commit `seq`; KeyError if no segment holds it."""
        for number, reader in enumerate(self.segments):
            seqs = [c.seq for c in reader.commits]
            at = bisect.bisect_left(seqs, seq)
            if at < len(seqs) and seqs[at] == seq:
                return number, at
        raise KeyError(seq)

    def written(self, seq: int) -> set[int]:
        """The pages commit `seq` wrote."""
        number, ordinal = self.locate(seq)
        return {page for page, o, _, _ in self.segments[number].index.pages if o == ordinal}

    def read_ahead(self, seqs: Iterable[int]) -> None:
        """Read, in one pass, the base's pages that the commits `seqs` overwrote (their
        images before each commit): counting their changes then rarely goes back."""
        wanted: set[int] = set()
        for seq in seqs:
            before = self.state(seq - 1)
            wanted |= {n for n in self.written(seq) if before.in_base(n)}
        self.base.get(wanted)

    def state(self, seq: int) -> ChainState:
        """The database after commit `seq` (0: the base)."""
        return ChainState(self, seq)

    def close(self) -> None:
        self.base.close()
        for reader in self.segments:
            reader.close()


class ChainState:
    """The pages of the database after one commit of a chain."""

    def __init__(self, chain: ChainPages, seq: int) -> None:
        self.chain = chain
        self.page_size = chain.base.size
        counts = array("I")
        self._limits: list[int] = []  # per segment: commits up to seq
        for reader in chain.segments:
            upto = [c.page_count for c in reader.commits if c.seq <= seq]
            self._limits.append(len(upto))
            counts.extend(upto)
        self.page_count = counts[-1] if counts else chain.base.count
        # floor[g]: the smallest page count from commit g on (a page an image past it
        # was cut off); floor[0] is how much of the base still counts.
        self._floor = array("I", [0]) * (len(counts) + 1)
        self._floor[len(counts)] = self.page_count
        for g in range(len(counts) - 1, -1, -1):
            self._floor[g] = min(counts[g], self._floor[g + 1])
        self._first = [0]
        for limit in self._limits:
            self._first.append(self._first[-1] + limit)

    def _where(self, number: int) -> tuple[int, int, int] | bool:
        """(segment, frame, offset) of the page's image; True: the base's; False: zeros."""
        for s in range(len(self.chain.segments) - 1, -1, -1):
            limit = self._limits[s]
            if not limit:
                continue
            pages = self.chain.segments[s].index.pages
            at = bisect.bisect_left(pages, (number, limit))
            if at and pages[at - 1][0] == number:
                _, ordinal, frame, offset = pages[at - 1]
                if number > self._floor[self._first[s] + ordinal + 1]:
                    return False
                return s, frame, offset
        return number <= self._floor[0] and number <= self.chain.base.count

    def in_base(self, number: int) -> bool:
        """Whether the page's image at this commit is the base's."""
        return 1 <= number <= self.page_count and self._where(number) is True

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        """The images of the pages `wanted` (pages past the end are left out); with
        interior=True, pages of the base known not to be interior ones may be left out
        too (walking a tree's interior pages then reads no leaf of the base)."""
        found: dict[int, bytes] = {}
        from_base = []
        for number in sorted(set(wanted)):
            if not 1 <= number <= self.page_count:
                continue
            where = self._where(number)
            if where is True:
                from_base.append(number)
            elif where is False:
                found[number] = bytes(self.page_size)
            elif isinstance(where, tuple):
                s, frame, offset = where
                found[number] = self.chain.segments[s].page(frame, offset)
        if from_base:
            base = self.chain.base
            found.update(base.interior(from_base) if interior else base.get(from_base))
        return found
