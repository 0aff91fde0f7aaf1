"""The service's row changes of one commit: which rows of which tables it touched.

Finds the commit at an exact time in the source's history (service/history.py's chains),
opens its chain's base and segments for page reads (core/history/page_reader.py) and
counts the rows it added, changed and deleted from the pages it wrote
(core/history/row_changes.py). Reads only; a differential base is rebuilt into this
run's scratch folder and removed afterwards.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.row_changes import TableChange, commit_changes
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.foundation.errors import CorruptSnapshot, NotFound
from lifeboat.service.history import chains_of

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace


def changes_at(workspace: Workspace, source: str, time_us: int) -> list[TableChange]:
    """The row changes of the commit at exactly `time_us` (NotFound if none is)."""
    for chain in chains_of(workspace, source):
        for number, segment in enumerate(chain.segments):
            if not segment.first_time_us <= time_us <= segment.last_time_us:
                continue
            try:
                with SegmentReader(segment.path) as reader:
                    seqs = [c.seq for c in reader.commits if c.time_us == time_us]
            except (SegmentDamaged, OSError) as exc:
                raise CorruptSnapshot(
                    f"the history of {source} cannot be read: {exc}",
                    "run `lifeboat verify`",
                ) from None
            if not seqs:
                continue
            if chain.base is None:
                raise NotFound(
                    f"the snapshot the commit at that time builds on is not here ({chain.base_id})",
                    f"run `lifeboat list {source}` to see the snapshots kept",
                )
            pages = ChainPages(
                chain.base, chain.segments[: number + 1], workspace.run, workspace.scratch()
            )
            try:
                seq = seqs[-1]
                return commit_changes(pages.state(seq - 1), pages.state(seq), pages.written(seq))
            finally:
                pages.close()
    raise NotFound(
        f"{source} has no commit at exactly that time",
        f"run `lifeboat timeline {source}` to see the times its history covers",
    )


def commits_around(workspace: Workspace, source: str, at_us: int, count: int) -> list[int]:
    """The times of the `count` commits at or before `at_us` and the `count` after it,
    oldest first (every chain's; a damaged segment is left out: `verify` reports it)."""
    times: list[int] = []
    for chain in chains_of(workspace, source):
        for segment in chain.segments:
            try:
                with SegmentReader(segment.path) as reader:
                    times += [c.time_us for c in reader.commits]
            except (SegmentDamaged, OSError):
                continue
    times.sort()
    at = bisect.bisect_right(times, at_us)
    return times[max(0, at - count) : at + count]
