"""Points of a chain: which commit a moment means, and rebuilding the database there.

A point is the last commit at or before a moment T. Its database is the base with the
newest image of each page written by the chain's commits up to it, cut at its page
count. It is rebuilt in one pass in page order: first the page map (page -> segment,
frame, offset of its newest image up to the point) is built from the segments' indexes
alone, then the base's pages stream out with the mapped ones put in their place. Memory
holds the map (12 bytes a page) and a few decompressed frames, whatever the size of the
database. When the point ends a segment, the rebuilt state's digest must equal the one
the segment recorded (pagestate.py): the result is proven to be what was captured.

The output is written as a work file of the run (exclusive, 0600), fsynced, and then
published under its name, which must not exist yet. Its header says journal mode
DELETE (as every snapshot's does): a standalone file, no `-wal` needed.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import struct
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.history.bases import BaseRef, base_blocks
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.pagestate import GROUP, HASH_SIZE, page_hash
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.private import open_new
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import CorruptSnapshot

_STATE_PREFIX = b"LBSTATE1"
_BLOCK_PAGES = 256
_FRAME_CACHE = 8


@dataclass(frozen=True)
class Point:
    base: BaseRef
    segments: list[SegmentFile]  # the chain's segments up to the one holding the commit
    commit_seq: int  # 0: the base itself
    time_us: int
    page_count: int
    flags: int
    #: the state digest the point must rebuild to (known where a segment ends)
    end_digest: bytes | None


def resolve_point(base: BaseRef, chain: list[SegmentFile], at_us: int) -> Point | None:
    """The last commit of `chain` (its effective segments, in order) at or before `at_us`;
    None if the chain's first commit is later."""
    chosen: tuple[int, SegmentFile] | None = None
    for number, segment in enumerate(chain):
        if segment.first_time_us > at_us:
            break
        chosen = (number, segment)
    if chosen is None:
        return None
    number, segment = chosen
    with SegmentReader(segment.path) as reader:
        entries = [c for c in reader.commits if c.time_us <= at_us]
        if not entries:
            return None
        last = entries[-1]
        ends = last.seq == reader.commits[-1].seq
    return Point(
        base=base,
        segments=chain[: number + 1],
        commit_seq=last.seq,
        time_us=last.time_us,
        page_count=last.page_count,
        flags=last.flags,
        end_digest=segment.end_digest if ends else None,
    )


@dataclass(frozen=True)
class Rebuilt:
    path: Path
    page_count: int
    state_digest: bytes
    pages_from_segments: int


class _PageMap:
    """Page -> (segment, frame, offset) of its newest image up to the point."""

    def __init__(self, page_count: int) -> None:
        self.segment = array("i", [-1]) * (page_count + 1)
        self.frame = array("I", [0]) * (page_count + 1)
        self.offset = array("I", [0]) * (page_count + 1)
        self.base_pages = page_count  # base pages past a shrink are not the point's
        self.listed = array("I")  # the pages a segment gives, in order
        self.substituted = 0


def _build_map(point: Point) -> _PageMap:
    """From the indexes: the newest image of each page up to the point that no later
    commit up to the point cut off (a shrink), and how much of the base still counts."""
    mapping = _PageMap(point.page_count)
    listed = []
    for number, segment in enumerate(point.segments):
        with SegmentReader(segment.path) as reader:
            commits = [c for c in reader.commits if c.seq <= point.commit_seq]
            listed.append((number, commits, reader.index.pages))
    # The smallest page count from each commit on: a page written before a commit that
    # cut the database below it is gone (SQLite reads such a page anew as zeros).
    counts = [c.page_count for _, commits, _ in listed for c in commits]
    floor = array("I", [0]) * (len(counts) + 1)
    floor[len(counts)] = point.page_count
    for i in range(len(counts) - 1, -1, -1):
        floor[i] = min(counts[i], floor[i + 1])
    mapping.base_pages = floor[0]
    first = 0
    for number, commits, pages in listed:
        limit = len(commits)
        for page, ordinal, frame, offset in pages:
            if ordinal < limit and page <= floor[first + ordinal + 1]:
                mapping.segment[page] = number
                mapping.frame[page] = frame
                mapping.offset[page] = offset
        first += limit
    mapping.listed = array(
        "I", (n for n in range(1, point.page_count + 1) if mapping.segment[n] >= 0)
    )
    return mapping


class _Frames:
    """Decompressed frames of the open segments, a few at a time (least recently used
    goes first)."""

    def __init__(self, point: Point) -> None:
        self._paths = [s.path for s in point.segments]
        self._readers: dict[int, SegmentReader] = {}
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def page(self, segment: int, frame: int, offset: int, size: int) -> bytes:
        key = (segment, frame)
        plain = self._cache.get(key)
        if plain is None:
            reader = self._readers.get(segment)
            if reader is None:
                reader = self._readers[segment] = SegmentReader(
                    self._paths[segment], cache_frames=0
                )
            plain = reader.frame(frame)
            self._cache[key] = plain
            while len(self._cache) > _FRAME_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        image = plain[offset : offset + size]
        if len(image) != size:
            raise CorruptSnapshot(f"{self._paths[segment].name}: a page runs past its frame")
        return image

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()


class _Digest:
    """The state digest of pages written in order (pagestate.py's definition)."""

    def __init__(self, page_size: int, page_count: int) -> None:
        self._outer = hashlib.sha256(_STATE_PREFIX + struct.pack(">II", page_count, page_size))
        self._group = bytearray()

    def add(self, page: bytes | memoryview) -> None:
        self._group += page_hash(page)
        if len(self._group) == GROUP * HASH_SIZE:
            self._outer.update(hashlib.sha256(self._group).digest())
            self._group = bytearray()

    def digest(self) -> bytes:
        if self._group:
            self._outer.update(hashlib.sha256(self._group).digest())
            self._group = bytearray()
        return self._outer.digest()


def rebuild_point(point: Point, dest: Path, run: Run, scratch: Path) -> Rebuilt:
    """Write the point's database to the new file `dest` (raises FileExistsError if it
    exists, CorruptSnapshot if anything fails a check; nothing is left then)."""
    dest = Path(dest)
    mapping = _build_map(point)
    work = run.work_path(dest.parent, "restore")
    try:
        with open_new(work) as out:
            state, substituted = _write_pages(point, mapping, out, run, scratch)
            out.flush()
            os.fsync(out.fileno())
        if point.end_digest is not None and state != point.end_digest:
            raise CorruptSnapshot(
                f"the point at commit {point.commit_seq} does not rebuild to the state "
                "its segment recorded",
                "use another point or snapshot",
            )
        os.link(work, dest)  # never replaces a file
        os.unlink(work)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(work)
        raise
    fsync_dir(dest.parent)
    return Rebuilt(dest, point.page_count, state, substituted)


def _write_pages(
    point: Point, mapping: _PageMap, out: BinaryIO, run: Run, scratch: Path
) -> tuple[bytes, int]:
    """The point's pages, in order, to `out`: the base's blocks as they are where no
    page of theirs changed; return the state digest and how many pages came from
    segments."""
    size, count = point.base.manifest.page_size, point.page_count
    frames = _Frames(point)
    digest = _Digest(size, count)
    number = 1  # the next page to write
    try:
        with base_blocks(point.base, run, scratch) as blocks:
            for block in blocks:  # read to the end: the base's SHA-256 is checked there
                if number > count:
                    continue
                take = min(len(block) // size, count - number + 1)
                data = _patched(block[: take * size], number, mapping, frames, size)
                _emit(out, digest, data, number, size)
                number += take
        while number <= count:  # past the base's end
            take = min(_BLOCK_PAGES, count - number + 1)
            data = _patched(memoryview(bytes(take * size)), number, mapping, frames, size)
            _emit(out, digest, data, number, size)
            number += take
    finally:
        frames.close()
    return digest.digest(), mapping.substituted


def _patched(
    block: memoryview, first: int, mapping: _PageMap, frames: _Frames, size: int
) -> memoryview:
    """`block` (pages first, first+1, ...) with the segments' images put in and the
    base's pages past a shrink zeroed; the block itself when nothing changes."""
    last = first + len(block) // size - 1
    at = bisect.bisect_left(mapping.listed, first)
    changed = at < len(mapping.listed) and mapping.listed[at] <= last
    if not changed and last <= mapping.base_pages:
        return block
    data = bytearray(block)
    if last > mapping.base_pages:
        cut = max(first, mapping.base_pages + 1)
        data[(cut - first) * size :] = bytes((last - cut + 1) * size)
    while at < len(mapping.listed) and mapping.listed[at] <= last:
        page = mapping.listed[at]
        image = frames.page(mapping.segment[page], mapping.frame[page], mapping.offset[page], size)
        data[(page - first) * size : (page - first + 1) * size] = image
        mapping.substituted += 1
        at += 1
    return memoryview(data)


def _emit(out: BinaryIO, digest: _Digest, data: memoryview, first: int, size: int) -> None:
    for at in range(0, len(data), size):
        digest.add(data[at : at + size])
    if first == 1:
        data = memoryview(_standalone(bytes(data[:size])) + bytes(data[size:]))
    out.write(data)


def _standalone(page_one: bytes) -> bytes:
    """Page 1 with the header's file format versions set to 1 (journal mode DELETE): a
    WAL image of page 1 says 2 (WAL), which a file without its -wal does not need."""
    if page_one[:16] != b"SQLite format 3\x00":
        return page_one
    return page_one[:18] + b"\x01\x01" + page_one[20:]
