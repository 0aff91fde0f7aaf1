"""The commits of a source's continuous history around a moment, as the segments'
indexes list them (for choosing "just before it went wrong" in the restore wizard).

Only the index frames are read (core/history/segment_index.py): no page is
decompressed, and only the segments around the moment are opened. The chains are the
ones a point restore reads (service/history.py), and only those whose base snapshot is
in the catalog (a chain without its base cannot be restored: jobs/restore_point.py).
Between two chains nothing is known (the newer one started on a new base), so the
first commit of a newer chain counts as after a gap, as the timeline says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED
from lifeboat.core.history.segment_index import pages_per_commit, read_index
from lifeboat.core.history.segment_read import SegmentDamaged
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, NotFound
from lifeboat.service.history import chains_of

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import CommitInfo


@dataclass(frozen=True)
class _Placed:
    segment: SegmentFile
    newer_chain: bool  # its chain is not the oldest restorable one


def _restorable_segments(workspace: Workspace, source: str) -> list[_Placed]:
    placed: list[_Placed] = []
    for chain in chains_of(workspace, source):
        try:
            workspace.catalog.snapshot(chain.base_id)
        except NotFound:
            continue
        newer = bool(placed)
        placed += [_Placed(segment, newer) for segment in chain.segments]
    return placed


def _window(placed: list[_Placed], at_us: int, before: int, after: int) -> range:
    """The segments to read: the one `at_us` falls in, and enough on each side to hold
    `before` commits at or before it and `after` commits after it."""
    inside = [i for i, p in enumerate(placed) if p.segment.first_time_us <= at_us]
    k = inside[-1] if inside else 0
    lo, held = k, 0
    while lo > 0 and held < before:
        lo -= 1
        held += placed[lo].segment.commits
    hi, held = k + 1, 0
    while hi < len(placed) and held < after:
        held += placed[hi].segment.commits
        hi += 1
    return range(lo, hi)


def _commits(placed: _Placed) -> list[CommitInfo]:
    from lifeboat.core.results import CommitInfo

    try:
        index = read_index(placed.segment.path)
    except (SegmentDamaged, OSError) as exc:
        raise CorruptSnapshot(
            f"the history cannot be read: {exc}",
            "run `lifeboat verify`; restore a snapshot instead",
        ) from None
    return [
        CommitInfo(
            time_us=entry.time_us,
            pages_changed=pages,
            merged=bool(entry.flags & FLAG_MERGED),
            after_gap=bool(entry.flags & FLAG_GAP) or (placed.newer_chain and entry.seq == 1),
        )
        for entry, pages in zip(index.commits, pages_per_commit(index), strict=True)
    ]


def commits_near(
    workspace: Workspace, source: str, at_us: int, before: int, after: int
) -> list[CommitInfo]:
    """Up to `before` commits at or before `at_us` and up to `after` commits after it,
    oldest first."""

    if before < 0 or after < 0:
        raise ValueError("before and after count commits: 0 or more")
    placed = _restorable_segments(workspace, source)
    found: list[CommitInfo] = []
    for i in _window(placed, at_us, before, after):
        found += _commits(placed[i])
    found.sort(key=lambda c: c.time_us)
    earlier = [c for c in found if c.time_us <= at_us]
    later = [c for c in found if c.time_us > at_us]
    return earlier[max(0, len(earlier) - before) :] + later[:after]
