"""A segment's commit index alone: read from the end of the file, no page decompressed.

segment_read.SegmentReader also reads the first frame (the header) and checks every
frame it reads; listing the commits around a moment needs only the index frame (its own
SHA-256 checks it), found through the seek table at the end of the file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lifeboat.core.history.sealing import PlainSegment, SealedUnreadable
from lifeboat.core.history.seektable import SKIPPABLE_HEADER, SeekTableError, read_seek_table
from lifeboat.core.history.segment import INDEX_MAGIC, SegmentIndex
from lifeboat.core.history.segment_read import SegmentDamaged


def read_index(path: Path) -> SegmentIndex:
    """The index of the segment at `path`; SegmentDamaged if it fails a check."""
    try:
        plain = PlainSegment(path)  # a sealed one decrypted (sealing.py)
    except SealedUnreadable as exc:
        raise SegmentDamaged(str(exc)) from None
    try:
        size, read_at = plain.size, plain.read_at

        try:
            entries = read_seek_table(read_at, size)
        except SeekTableError as exc:
            raise SegmentDamaged(f"{path.name}: {exc}") from None
        if not entries or entries[-1].decompressed != 0:
            raise SegmentDamaged(f"{path.name}: no index frame before the seek table")
        index_at = sum(entry.compressed for entry in entries[:-1])
        raw = read_at(index_at, entries[-1].compressed)
    finally:
        plain.close()
    magic, length = SKIPPABLE_HEADER.unpack_from(raw)
    if magic != INDEX_MAGIC or length != len(raw) - SKIPPABLE_HEADER.size:
        raise SegmentDamaged(f"{path.name}: the index frame is not where it should be")
    try:
        return SegmentIndex.unpack(raw[SKIPPABLE_HEADER.size :])
    except ValueError as exc:
        raise SegmentDamaged(f"{path.name}: {exc}") from None


def pages_per_commit(index: SegmentIndex) -> list[int]:
    """How many page images each commit of the index wrote, in commit order."""
    counts = Counter(ordinal for _number, ordinal, _frame, _offset in index.pages)
    return [counts.get(ordinal, 0) for ordinal in range(len(index.commits))]
