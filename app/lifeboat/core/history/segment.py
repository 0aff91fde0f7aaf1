"""The segment format (`.seg.zst`, version 1): a run of consecutive commits of one chain.

A sequence of zstd frames (stock `zstd -d` gives the plain stream below), then a
skippable frame holding the index, then the zstd seekable format's seek table
(seektable.py). The plain stream, integers big-endian:

    header  "LBSEGMT\\0" | version u16 | page size u32 | chain base id (8 ASCII) |
            base SHA-256 (32) | segment seq u32 | previous segment's end digest (32;
            zeros for the first) | first commit seq u64 | commit count u32     -- 102 bytes
    commit  "CMIT" | commit seq u64 | commit time (UTC, microseconds) u64 |
            database page count after it u32 | flags u32 (1: catch-up merge, 2: gap
            before it) | page count n u32, then n x (page number u32 | page bytes),
            page numbers increasing                                       -- 32 + n records
    end     "SEND" | end state digest (32)

Each zstd frame holds whole page records (about 1 MiB of plain stream): a frame starts
at a commit or between two of a commit's pages, so a page is read by decompressing one
frame. The index frame (skippable, magic 0x184D2A5B) is:

    "LBSIDX\\0\\0" | version u16 | level u16 | commit count u32 | page entries u32 |
    end state digest (32)
    per commit: seq u64 | time u64 | page count u32 | flags u32 | frame u32 | offset u32
    per page image, sorted by (page number, commit): page number u32 | commit ordinal u32 |
        frame u32 | offset u32 (of the page's bytes in that frame's plain bytes)
    SHA-256 of all of the above (32)
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from lifeboat.core.history.seektable import SeekEntry, frame_checksum, pack_seek_table
from lifeboat.core.history.seektable import skippable_frame as _skippable

# Some imports are inside the functions that use them: they load heavy libraries
# (zstandard, apsw, APScheduler, numpy) or the jobs, which commands such as
# `lifeboat status` must not pay for at start-up (tests/test_startup_imports.py).

MAGIC = b"LBSEGMT\x00"
VERSION = 1
HEADER = struct.Struct(">8sHI8s32sI32sQI")
COMMIT_MAGIC = b"CMIT"
COMMIT = struct.Struct(">4sQQIII")
PAGE_NUMBER = struct.Struct(">I")
END_MAGIC = b"SEND"
END = struct.Struct(">4s32s")
INDEX_MAGIC = 0x184D2A5B
INDEX_PREFIX = b"LBSIDX\x00\x00"
INDEX_HEAD = struct.Struct(">8sHHII32s")
INDEX_COMMIT = struct.Struct(">QQIIII")
INDEX_PAGE = struct.Struct(">IIII")
#: an index's page entry: (page number, commit ordinal, frame, offset)
PageEntry = tuple[int, int, int, int]
#: plain bytes per zstd frame (a frame is cut at the first page record boundary past it)
FRAME_TARGET = 1 << 20
FLAG_MERGED = 1  # a catch-up: the commits since the previous one merged into this one
FLAG_GAP = 2  # nothing was captured between the previous commit and this one
ZERO_DIGEST = bytes(32)


@dataclass(frozen=True)
class SegmentHeader:
    page_size: int
    base_id: str
    base_sha256: str
    segment_seq: int
    previous_digest: bytes  # the previous segment's end state digest (zeros: none)
    first_commit: int
    commit_count: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            VERSION,
            self.page_size,
            self.base_id.encode("ascii"),
            bytes.fromhex(self.base_sha256),
            self.segment_seq,
            self.previous_digest,
            self.first_commit,
            self.commit_count,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> SegmentHeader:
        if len(raw) < HEADER.size:
            raise ValueError("the segment is shorter than its header")
        magic, version, page_size, base_id, base_sha, seq, previous, first, count = (
            HEADER.unpack_from(raw)
        )
        if magic != MAGIC:
            raise ValueError("not a Lifeboat segment (bad magic)")
        if version != VERSION:
            raise ValueError(f"segment format version {version} is not known")
        return cls(page_size, base_id.decode("ascii"), base_sha.hex(), seq, previous, first, count)


@dataclass(frozen=True)
class CommitRecord:
    """One commit as a segment holds it: the last image of each page it wrote."""

    seq: int
    time_us: int
    page_count: int
    flags: int
    pages: Mapping[int, bytes]


class CommitEntry(NamedTuple):
    """A commit as the index lists it (where it starts in which frame). A named tuple:
    a chain's indexes list every commit, read at each restore (tuples build fast)."""

    seq: int
    time_us: int
    page_count: int
    flags: int
    frame: int
    offset: int


@dataclass(frozen=True)
class SegmentIndex:
    level: int
    end_digest: bytes
    commits: list[CommitEntry]
    #: the page entries as the index holds them (INDEX_PAGE each): unpacked only when
    #: asked for, as listing a folder's segments reads every index and needs none
    pages_packed: bytes

    @classmethod
    def of(
        cls, level: int, end_digest: bytes, commits: list[CommitEntry], pages: list[PageEntry]
    ) -> SegmentIndex:
        return cls(level, end_digest, commits, b"".join(INDEX_PAGE.pack(*e) for e in pages))

    @cached_property
    def pages(self) -> list[PageEntry]:
        """(page number, commit ordinal, frame, offset), sorted."""
        return list(self.page_entries())

    def page_entries(self) -> Iterator[PageEntry]:
        return INDEX_PAGE.iter_unpack(self.pages_packed)

    def pack(self) -> bytes:
        parts = [
            INDEX_HEAD.pack(
                INDEX_PREFIX,
                VERSION,
                self.level,
                len(self.commits),
                len(self.pages_packed) // INDEX_PAGE.size,
                self.end_digest,
            )
        ]
        parts += [
            INDEX_COMMIT.pack(c.seq, c.time_us, c.page_count, c.flags, c.frame, c.offset)
            for c in self.commits
        ]
        parts.append(self.pages_packed)
        body = b"".join(parts)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def unpack(cls, payload: bytes) -> SegmentIndex:
        if len(payload) < INDEX_HEAD.size + 32:
            raise ValueError("the segment's index is too short")
        body, digest = payload[:-32], payload[-32:]
        if hashlib.sha256(body).digest() != digest:
            raise ValueError("the segment's index does not match its SHA-256")
        prefix, version, level, commits, pages, end_digest = INDEX_HEAD.unpack_from(body)
        if prefix != INDEX_PREFIX or version != VERSION:
            raise ValueError("the segment's index is not one this version knows")
        expected = INDEX_HEAD.size + commits * INDEX_COMMIT.size + pages * INDEX_PAGE.size
        if len(body) != expected:
            raise ValueError("the segment's index has the wrong length")
        at = INDEX_HEAD.size + commits * INDEX_COMMIT.size
        commit_list = list(
            map(CommitEntry._make, INDEX_COMMIT.iter_unpack(body[INDEX_HEAD.size : at]))
        )
        return cls(level, end_digest, commit_list, body[at:])


@dataclass
class WrittenSegment:
    """What writing a segment produced (for its manifest)."""

    size: int
    sha256: str
    plain_size: int
    frames: int
    commits: int
    first_seq: int
    last_seq: int
    first_time_us: int
    last_time_us: int
    end_digest: bytes
    #: the gap and merged commits: (seq, time, flags, the time of the commit before it
    #: in this segment, None for its first)
    marks: list[tuple[int, int, int, int | None]] = field(default_factory=list)
    #: a sealed segment's file (its ciphertext): (size, SHA-256); None when plain
    sealed: tuple[int, str] | None = None


def commit_marks(commits: list[CommitEntry]) -> list[tuple[int, int, int, int | None]]:
    """The gap and merged commits of a segment's index, with the time before each."""
    marks = []
    previous: int | None = None
    for entry in commits:
        if entry.flags & (FLAG_GAP | FLAG_MERGED):
            marks.append((entry.seq, entry.time_us, entry.flags, previous))
        previous = entry.time_us
    return marks


if TYPE_CHECKING:
    import zstandard

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor at `level`: made once, not for every segment (the
    follower writes two small segments a second; a compressor is not to be shared
    between threads)."""
    import zstandard

    made: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("made", {})
    if level not in made:
        made[level] = zstandard.ZstdCompressor(
            level=level, write_checksum=True, write_content_size=True
        )
    return made[level]


@dataclass
class SegmentWriter:
    """Writes one segment to `out` (a new work file): header, commits, end, index, seek
    table; `finish` returns its size and SHA-256."""

    out: BinaryIO
    header: SegmentHeader
    level: int = 0
    #: commit seqs follow each other (False for a thinned segment, which skips some)
    contiguous: bool = True
    compression_level: int = 3
    frame_target: int = FRAME_TARGET
    _buffer: bytearray = field(default_factory=bytearray)
    _entries: list[SeekEntry] = field(default_factory=list)
    _commits: list[CommitEntry] = field(default_factory=list)
    _pages: list[PageEntry] = field(default_factory=list)
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _size: int = 0
    _plain: int = 0

    def __post_init__(self) -> None:
        self._buffer += self.header.pack()
        self._compressor = _compressor(self.compression_level)

    def add(self, commit: CommitRecord) -> None:
        ordinal = len(self._commits)
        expected = self.header.first_commit + ordinal
        if ordinal == 0 and (
            commit.seq < self.header.first_commit
            or (self.contiguous and commit.seq != self.header.first_commit)
        ):
            raise ValueError(f"the header says the first commit is {self.header.first_commit}")
        if self.contiguous and commit.seq != expected:
            raise ValueError(f"commit {commit.seq} does not follow {expected - 1}")
        if self._commits and commit.seq <= self._commits[-1].seq:
            raise ValueError("commits must be added in increasing order")
        seq, time_us, page_count, flags, pages = (
            commit.seq,
            commit.time_us,
            commit.page_count,
            commit.flags,
            commit.pages,
        )
        buffer = self._buffer
        self._commits.append(
            CommitEntry(seq, time_us, page_count, flags, len(self._entries), len(buffer))
        )
        buffer += COMMIT.pack(COMMIT_MAGIC, seq, time_us, page_count, flags, len(pages))
        # Every commit of a chain passes here (and again at compaction): kept lean.
        size, target, entries, listed = (
            self.header.page_size,
            self.frame_target,
            self._entries,
            self._pages,
        )
        for number in sorted(pages):
            image = pages[number]
            if len(image) != size:
                raise ValueError(f"page {number} has {len(image)} bytes, not {size}")
            if len(buffer) >= target:
                self._flush()
                buffer = self._buffer
            buffer += PAGE_NUMBER.pack(number)
            listed.append((number, ordinal, len(entries), len(buffer)))
            buffer += image
        if len(buffer) >= target:
            self._flush()

    def finish(self, end_digest: bytes) -> WrittenSegment:
        if len(self._commits) != self.header.commit_count:
            raise ValueError(
                f"the header says {self.header.commit_count} commits, {len(self._commits)} given"
            )
        self._buffer += END.pack(END_MAGIC, end_digest)
        self._flush()
        self._pages.sort()
        index = SegmentIndex.of(self.level, end_digest, self._commits, self._pages).pack()
        index_frame = _skippable(INDEX_MAGIC, index)
        self._write(index_frame)
        self._entries.append(SeekEntry(len(index_frame), 0, frame_checksum(b"")))
        self._write(pack_seek_table(self._entries))
        first, last = self._commits[0], self._commits[-1]
        return WrittenSegment(
            size=self._size,
            sha256=self._digest.hexdigest(),
            plain_size=self._plain,
            frames=len(self._entries) - 1,
            commits=len(self._commits),
            first_seq=first.seq,
            last_seq=last.seq,
            first_time_us=first.time_us,
            last_time_us=last.time_us,
            end_digest=end_digest,
            marks=commit_marks(self._commits),
        )

    def _flush(self) -> None:
        if not self._buffer:
            return
        plain = bytes(self._buffer)
        compressed = self._compressor.compress(plain)
        self._write(compressed)
        self._entries.append(SeekEntry(len(compressed), len(plain), frame_checksum(plain)))
        self._plain += len(plain)
        self._buffer = bytearray()

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self._digest.update(data)
        self._size += len(data)
