"""Reading a segment (segment.py): its seek table and index first, frames on demand.

Every frame read is checked: zstd's own content checksum, its plain size and the seek
table's XXH64 checksum; the index carries its own SHA-256; iterating the commits checks
the plain stream against the index and ends at the end marker, whose digest must equal
the index's. Any mismatch raises SegmentDamaged, which says what failed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from lifeboat.core.history.sealing import PlainSegment, SealedUnreadable
from lifeboat.core.history.seektable import (
    SKIPPABLE_HEADER,
    SeekEntry,
    SeekTableError,
    frame_checksum,
    read_seek_table,
    zstd_checks_it,
)
from lifeboat.core.history.segment import (
    COMMIT,
    COMMIT_MAGIC,
    END,
    END_MAGIC,
    HEADER,
    INDEX_MAGIC,
    PAGE_NUMBER,
    CommitEntry,
    CommitRecord,
    SegmentHeader,
    SegmentIndex,
)

# Some imports are inside the functions that use them: they load heavy libraries
# (zstandard, apsw, APScheduler, numpy) or the jobs, which commands such as
# `lifeboat status` must not pay for at start-up (tests/test_startup_imports.py).
if TYPE_CHECKING:
    import zstandard

_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (one must not be used by two threads at once)."""
    import zstandard

    made: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if made is None:
        made = _local.dctx = zstandard.ZstdDecompressor()
    return made


class SegmentDamaged(ValueError):
    """A segment file fails a check (proven damage: a checksum or structure mismatch)."""


class SegmentReader:
    """An open segment file. Use as a context manager, or close()."""

    def __init__(self, path: Path, *, cache_frames: int = 2) -> None:
        self.path = Path(path)
        try:
            self._plain = PlainSegment(self.path)  # a sealed one decrypted (sealing.py)
        except SealedUnreadable as exc:
            raise SegmentDamaged(str(exc)) from None
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_frames = max(0, cache_frames)  # 0: the caller keeps its own cache
        try:
            self.size = self._plain.size  # of the plain segment
            self._load()
        except BaseException:
            self._plain.close()
            raise

    def _read_at(self, offset: int, size: int) -> bytes:
        return self._plain.read_at(offset, size)

    def _load(self) -> None:
        try:
            entries = read_seek_table(self._read_at, self.size)
        except SeekTableError as exc:
            raise SegmentDamaged(f"{self.path.name}: {exc}") from None
        if not entries or entries[-1].decompressed != 0:
            raise SegmentDamaged(f"{self.path.name}: no index frame before the seek table")
        self._entries: list[SeekEntry] = entries[:-1]
        self._offsets = []
        at = 0
        for entry in entries:
            self._offsets.append(at)
            at += entry.compressed
        index_at, index_size = self._offsets[-1], entries[-1].compressed
        raw = self._read_at(index_at, index_size)
        magic, length = SKIPPABLE_HEADER.unpack_from(raw)
        if magic != INDEX_MAGIC or length != index_size - SKIPPABLE_HEADER.size:
            raise SegmentDamaged(f"{self.path.name}: the index frame is not where it should be")
        try:
            self.index = SegmentIndex.unpack(raw[SKIPPABLE_HEADER.size :])
            self.header = SegmentHeader.unpack(self.frame(0)[: HEADER.size])
        except ValueError as exc:
            raise SegmentDamaged(f"{self.path.name}: {exc}") from None
        if self.header.commit_count != len(self.index.commits) or (
            self.index.commits and self.index.commits[0].seq < self.header.first_commit
        ):
            raise SegmentDamaged(f"{self.path.name}: its header and its index disagree")

    # -- what the index says ---------------------------------------------------------

    @property
    def commits(self) -> list[CommitEntry]:
        return self.index.commits

    @property
    def frames(self) -> int:
        return len(self._entries)

    @property
    def first_seq(self) -> int:
        """The first commit seq of the range it covers (its header's)."""
        return self.header.first_commit

    @property
    def last_seq(self) -> int:
        return self.index.commits[-1].seq

    @property
    def end_digest(self) -> bytes:
        return self.index.end_digest

    # -- frames and pages ------------------------------------------------------------

    def frame(self, number: int) -> bytes:
        """The plain bytes of zstd frame `number`, checked (kept in a small cache)."""
        cached = self._cache.get(number)
        if cached is not None:
            self._cache.move_to_end(number)
            return cached
        plain = self.read_frame(number)
        if self._cache_frames:
            self._cache[number] = plain
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return plain

    def read_frame(self, number: int) -> bytes:
        """Frame `number` read, decompressed and checked now (no cache: safe from any
        thread, for the rebuild's pool)."""
        import zstandard

        if not 0 <= number < len(self._entries):
            raise SegmentDamaged(f"{self.path.name}: no frame {number}")
        entry = self._entries[number]
        raw = self._read_at(self._offsets[number], entry.compressed)
        try:
            plain = _decompressor().decompress(raw)
        except zstandard.ZstdError as exc:
            raise SegmentDamaged(
                f"{self.path.name}: frame {number} does not decompress ({exc})"
            ) from None
        if len(plain) != entry.decompressed or (
            entry.checksum is not None
            and not zstd_checks_it(raw, entry.checksum)
            and frame_checksum(plain) != entry.checksum
        ):
            raise SegmentDamaged(f"{self.path.name}: frame {number} fails its seek-table check")
        return plain

    def page(self, frame: int, offset: int) -> bytes:
        """A page image the index points at."""
        size = self.header.page_size
        data = self.frame(frame)[offset : offset + size]
        if len(data) != size:
            raise SegmentDamaged(f"{self.path.name}: a page runs past the end of frame {frame}")
        return data

    def iter_commits(self) -> Iterator[CommitRecord]:
        """Every commit with its pages, in order, checked against the index; the stream
        must end with the end marker holding the index's digest."""
        stream = _PlainStream(self)
        stream.read(HEADER.size)
        size = self.header.page_size
        for entry in self.index.commits:
            magic, seq, time_us, page_count, flags, count = COMMIT.unpack(stream.read(COMMIT.size))
            if magic != COMMIT_MAGIC or (seq, time_us, page_count, flags) != (
                entry.seq,
                entry.time_us,
                entry.page_count,
                entry.flags,
            ):
                raise SegmentDamaged(f"{self.path.name}: commit {entry.seq} does not match")
            pages: dict[int, bytes] = {}
            last = 0
            for _ in range(count):
                (number,) = PAGE_NUMBER.unpack(stream.read(PAGE_NUMBER.size))
                if number <= last:
                    raise SegmentDamaged(f"{self.path.name}: pages out of order in {seq}")
                pages[number] = stream.read(size)
                last = number
            yield CommitRecord(seq, time_us, page_count, flags, pages)
        magic, digest = END.unpack(stream.read(END.size))
        if magic != END_MAGIC or digest != self.index.end_digest:
            raise SegmentDamaged(f"{self.path.name}: its end does not match its index")
        if not stream.at_end():
            raise SegmentDamaged(f"{self.path.name}: bytes follow its end marker")

    def verify(self) -> int:
        """Read everything, checking every frame, the stream and that each page the
        index lists is where it says; return the number of commits."""
        images: dict[tuple[int, int], int] = {}
        for ordinal, commit in enumerate(self.iter_commits()):
            for number, image in commit.pages.items():
                images[(number, ordinal)] = xxhash.xxh3_64_intdigest(image)
        if len(images) != len(self.index.pages):
            raise SegmentDamaged(f"{self.path.name}: its index and its pages disagree")
        for number, ordinal, frame, offset in sorted(self.index.pages, key=lambda e: e[2:]):
            found = images.get((number, ordinal))
            if found is None or xxhash.xxh3_64_intdigest(self.page(frame, offset)) != found:
                raise SegmentDamaged(f"{self.path.name}: the index misplaces page {number}")
        return len(self.index.commits)

    def close(self) -> None:
        self._plain.close()
        self._cache.clear()

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PlainStream:
    """The plain stream of a segment, frame after frame (each checked)."""

    def __init__(self, reader: SegmentReader) -> None:
        self._reader = reader
        self._frame = 0
        self._data = b""
        self._at = 0

    def read(self, size: int) -> bytes:
        if self._at + size <= len(self._data):  # within the frame: most reads
            piece = self._data[self._at : self._at + size]
            self._at += size
            return piece
        parts = []
        left = size
        while left:
            if self._at >= len(self._data):
                if self._frame >= self._reader.frames:
                    raise SegmentDamaged(f"{self._reader.path.name}: it ends early")
                self._data = self._reader.frame(self._frame)
                self._frame += 1
                self._at = 0
            piece = self._data[self._at : self._at + left]
            parts.append(piece)
            self._at += len(piece)
            left -= len(piece)
        return b"".join(parts)

    def at_end(self) -> bool:
        return self._at >= len(self._data) and self._frame >= self._reader.frames
