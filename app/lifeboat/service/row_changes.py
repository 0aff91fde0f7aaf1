"""The service's row changes of one commit: which rows of which tables it touched.

Finds the commit at an exact time in the source's history (service/history.py's chains),
opens its chain's base and segments for page reads (core/history/page_reader.py) and
counts the rows it added, changed and deleted from the pages it wrote
(core/history/row_changes.py). Reads only; the base is read as a restore reads it
(remote/fetch.snapshot_files: fetched, decrypted into this run's scratch if sealed), a
differential base rebuilt into the scratch folder; all removed afterwards.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.btree import MALFORMED
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.row_changes import TableChange, commit_changes
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.foundation.errors import CorruptSnapshot, NotFound
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.fetch import snapshot_files
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
            return _counted(workspace, chain.base_id, chain.segments[: number + 1], seqs[-1])
    raise NotFound(
        f"{source} has no commit at exactly that time",
        f"run `lifeboat timeline {source}` to see the times its history covers",
    )


def _counted(
    workspace: Workspace, base_id: str, segments: list[SegmentFile], seq: int
) -> list[TableChange]:
    """Count commit `seq`'s row changes, reading its base as a restore does (fetched
    from the remote if it is not here, decrypted into the run's scratch if sealed)."""
    try:
        record = workspace.catalog.snapshot(base_id)
    except NotFound:
        raise NotFound(
            f"the snapshot the commit builds on ({base_id}) is no longer kept",
            "pick a later commit; `lifeboat timeline` lists them",
        ) from None
    try:
        with snapshot_files(workspace, record, no_progress, CancelToken()) as files:
            parent = BaseRef(files.base[1], files.base[0]) if files.base else None
            base = BaseRef(files.manifest, files.folder, parent)
            pages = ChainPages(base, segments, workspace.run, workspace.scratch())
            try:
                return commit_changes(pages.state(seq - 1), pages.state(seq), pages.written(seq))
            finally:
                pages.close()
    except (SegmentDamaged, *MALFORMED) as exc:
        raise CorruptSnapshot(
            f"the history of commit {seq} on base {base_id} cannot be read: {exc}",
            "run `lifeboat verify`",
        ) from None


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
