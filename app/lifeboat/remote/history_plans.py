"""What of a source's continuous history goes to its remote, and what may leave it.

Plain functions on plain data (the segments a reader uses here, the copies the catalog
records as proven there), so that the rules are tested as tables:

- A segment is *held* by the remote when proven copies of the same chain, at its level
  or above, hold every commit of its range between them (a level-1 segment compacted
  here from level-0 segments already sent as batches is not sent again).
- What is not held goes up in order: a level-1 or thinned segment as it is; consecutive
  level-0 segments joined into one batch (one object per upload, not one per write of
  the follower, let alone per commit).
- A copy on the remote is deleted only once another proven copy there covers it (the
  rule by which a reader chooses segments: core/history/chain.SegmentFile.covers), so
  the remote never holds fewer commits than before a deletion.
"""

from __future__ import annotations

from collections.abc import Sequence

from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.remote_keys import object_key

HISTORY = "history"  # on a remote: <prefix>/<source>/history/<segment name>


def history_key(prefix: str, source: str, name: str) -> str:
    """The key of a history object of `source` (both names checked as plain names)."""
    return f"{object_key(prefix, source, HISTORY)}/{_plain(name)}"


def _plain(name: str) -> str:
    object_key("", "history", name)  # raises for a name that is not a plain one
    return name


def history_prefix(prefix: str, source: str) -> str:
    return object_key(prefix, source, HISTORY) + "/"


def held(segment: SegmentFile, copies: Sequence[SegmentCopy]) -> bool:
    """Whether the proven `copies` hold every commit of `segment`'s range."""
    ranges = sorted(
        (c.first_seq, c.last_seq)
        for c in copies
        if c.base_id == segment.base_id and c.level >= segment.level
    )
    need = segment.first_seq
    for first, last in ranges:
        if first > need:
            break
        need = max(need, last + 1)
    return need > segment.last_seq


def follows(before: SegmentFile, after: SegmentFile) -> bool:
    return (
        after.base_id == before.base_id
        and after.first_seq == before.last_seq + 1
        and after.previous_digest == before.end_digest
    )


def plan_batches(
    segments: Sequence[SegmentFile], copies: Sequence[SegmentCopy]
) -> list[list[SegmentFile]]:
    """The uploads to make, in commit order: each a list of segments sent as one object
    (one segment as it is, or consecutive level-0 segments to be joined)."""
    batches: list[list[SegmentFile]] = []
    for segment in segments:
        if held(segment, copies):
            continue
        last = batches[-1] if batches else None
        if (
            last is not None
            and segment.level == 0
            and last[-1].level == 0
            and follows(last[-1], segment)
        ):
            last.append(segment)
        else:
            batches.append([segment])
    return batches


def covered_copies(copies: Sequence[SegmentCopy]) -> list[SegmentCopy]:
    """The copies another proven copy (of the same remote) covers: safe to delete."""
    return [c for c in copies if any(o.remote == c.remote and o.covers(c) for o in copies)]


def held_until_us(segments: Sequence[SegmentFile], copies: Sequence[SegmentCopy]) -> int | None:
    """The time of the newest commit the remote holds of the newest chain here, every
    commit before it held too (None: it holds none of that chain)."""
    if not segments:
        return None
    newest = max(segments, key=lambda s: s.last_time_us).base_id
    until = None
    for segment in sorted((s for s in segments if s.base_id == newest), key=lambda s: s.first_seq):
        if not held(segment, copies):
            break
        until = segment.last_time_us
    return until
