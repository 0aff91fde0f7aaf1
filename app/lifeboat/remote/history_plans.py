"""What of a source's continuous history goes to its remote, and what may leave it.

Plain functions on plain data (the segments a reader uses here, the copies the catalog
records as proven there), so that the rules are tested as tables:

- A segment is *held* by the remote when proven copies of the same chain, at its level
  or above, hold every commit of its range between them (a level-1 segment compacted
  here from level-0 segments already sent as batches is not sent again).
- What is not held goes up in order, one object per upload round in the usual case
  (not one per write of the follower, let alone per commit): consecutive level-0 and
  level-1 segments joined into one, the first of them by its tail only when the remote
  holds its first commits (compaction here joined level-0 segments sent before with
  some not sent yet); a thinned segment as it is.
- A copy on the remote is deleted only once another proven copy there covers it (the
  rule by which a reader chooses segments: core/history/chain.SegmentFile.covers), so
  the remote never holds fewer commits than before a deletion; or when its chain is
  not the newest there and the remote's retention pruned its base (it restores nothing),
  as the remote's own listing shows: not merely because this catalog does not know the
  base (a new machine before `catalog rebuild`, a base's manifest it cannot read).
  That retention keeps the base of the newest chain (jobs/upload.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.manifest import STEM_RE
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


@dataclass(frozen=True)
class Batch:
    """One object to send: the segments joined (one whole segment: sent as it is). With
    `after` set, the first segment's commits up to `after` are left out (the remote
    holds them: a segment compacted here after part of it was sent), and the object
    starts from the state digest `previous` (hex) the remote's copy ended at."""

    segments: list[SegmentFile]
    after: int | None = None
    previous: str = ""


def held_prefix(segment: SegmentFile, copies: Sequence[SegmentCopy]) -> SegmentCopy | None:
    """The copy the longest held run of `segment`'s first commits ends with (None: its
    first commit is not held)."""
    ranges = sorted(
        (c for c in copies if c.base_id == segment.base_id and c.level >= segment.level),
        key=lambda c: (c.first_seq, c.last_seq),
    )
    need, last = segment.first_seq, None
    for copy in ranges:
        if copy.first_seq > need:
            break
        if copy.last_seq + 1 > need:
            need, last = copy.last_seq + 1, copy
    return last


def plan_batches(segments: Sequence[SegmentFile], copies: Sequence[SegmentCopy]) -> list[Batch]:
    """The objects to send, in commit order: consecutive segments of level 0 and 1 that
    follow each other joined into one (the first of them by its tail when the remote
    holds its first commits); a thinned segment as it is."""
    batches: list[Batch] = []
    for segment in segments:
        if held(segment, copies):
            continue
        last = batches[-1] if batches else None
        if (
            last is not None
            and segment.level <= 1
            and last.segments[-1].level <= 1
            and follows(last.segments[-1], segment)
        ):
            last.segments.append(segment)
            continue
        prefix = held_prefix(segment, copies) if segment.level == 1 else None
        if prefix is not None and prefix.last_seq < segment.last_seq:
            batches.append(Batch([segment], prefix.last_seq, prefix.end_digest))
        else:
            batches.append(Batch([segment]))
    return batches


def covered_copies(copies: Sequence[SegmentCopy]) -> list[SegmentCopy]:
    """The copies another proven copy (of the same remote) covers, or holds exactly as
    well (duplicate_copies): safe to delete."""
    twice = {id(c) for c in duplicate_copies(copies)}
    return [
        c
        for c in copies
        if id(c) in twice or any(o.remote == c.remote and o.covers(c) for o in copies)
    ]


def duplicate_copies(copies: Sequence[SegmentCopy]) -> list[SegmentCopy]:
    """The copies that hold exactly what another proven copy holds (the same chain,
    commits, level and end state) and come after it by name: two uploaders that once
    planned at the same moment (before history_claim.py) each sent their own. Neither
    covers the other by SegmentCopy.covers, so they would stay for good; one is kept."""
    first: dict[tuple[str, str, int, int, int, str], SegmentCopy] = {}
    extra = []
    for copy in sorted(copies, key=lambda c: c.name):
        same = (copy.remote, copy.base_id, copy.first_seq, copy.last_seq, copy.level)
        key = (*same, copy.end_digest)
        if key in first:
            extra.append(copy)
        else:
            first[key] = copy
    return extra


def live_base(copies: Sequence[SegmentCopy]) -> str | None:
    """The base of the newest chain the copies hold (the one being continued)."""
    newest = max(copies, key=lambda c: c.last_time_us, default=None)
    return newest.base_id if newest is not None else None


def live_chain_bases(records: Sequence[SnapshotRecord], copies: Sequence[SegmentCopy]) -> set[str]:
    """The snapshots the remote's retention keeps for the newest chain it holds: its
    base and, for a differential base, that one's full base."""
    live = live_base(copies)
    if live is None:
        return set()
    by_id = {r.id: r for r in records}
    base = by_id.get(live)
    full = base.manifest.base if base is not None and base.manifest.kind == "diff" else None
    return {live} | ({str(full)} if full else set())


def orphan_candidates(copies: Sequence[SegmentCopy], bases_held: set[str]) -> set[str]:
    """The bases of chains that are not the newest there and that the catalog does not
    know as held on the remote: only candidates (a new machine's catalog may not know
    the base yet), to be checked against the remote's own listing."""
    newest = live_base(copies)
    return {c.base_id for c in copies if c.base_id != newest and c.base_id not in bases_held}


def orphaned_copies(copies: Sequence[SegmentCopy], bases_gone: set[str]) -> list[SegmentCopy]:
    """The copies of a chain that is not the newest there and whose base the remote's own
    listing shows it no longer holds (its retention pruned it): they restore nothing,
    and go (the rule by which a chain's history goes here: service/history_retention.py).
    A base merely unknown to this catalog is not gone: its chain stays."""
    newest = live_base(copies)
    return [c for c in copies if c.base_id != newest and c.base_id in bases_gone]


def snapshot_ids_listed(keys: Iterable[str]) -> set[str]:
    """The snapshot ids that objects named `keys` (a listing of one source's folder)
    belong to: a snapshot's artifact or manifest, whatever this Lifeboat makes of it."""
    found = set()
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 2 and parts[-2] == HISTORY:
            continue
        match = STEM_RE.match(parts[-1].split(".", 1)[0])
        if match is not None:
            found.add(match.group("id"))
    return found


def sendable(segments: Sequence[SegmentFile], bases_held: set[str]) -> list[SegmentFile]:
    """The segments worth sending: of the newest chain here (its base goes up first if
    needed), and of older chains whose base the remote holds (not of one whose base its
    retention pruned: that would send the base back)."""
    newest = max(segments, key=lambda s: s.last_time_us, default=None)
    live = newest.base_id if newest is not None else None
    return [s for s in segments if s.base_id == live or s.base_id in bases_held]


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
