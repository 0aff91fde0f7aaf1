"""The service's row changes of commits: which rows of which tables each touched.

Finds the commits at exact times in the source's history (service/history.py's chains),
opens each chain's base and segments for page reads once (core/history/page_reader.py),
reads ahead in one pass the base pages the commits need, and counts the rows each added,
changed and deleted from the pages it wrote (core/history/row_changes.py). Reads only;
the base is read as a restore reads it (remote/fetch.snapshot_files: fetched, decrypted
into this run's scratch if sealed), a differential base rebuilt into the scratch
folder; all removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.foundation.errors import CorruptSnapshot, NotFound
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.fetch import snapshot_files
from lifeboat.service.history import chains_of

# Imported where used, not here: these pull in heavy libraries (zstandard, apsw, APScheduler,
# numpy) or the jobs, which commands such as `lifeboat status` must not load at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.row_changes import TableChange

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace


def changes_at(
    workspace: Workspace, source: str, times_us: Iterable[int]
) -> dict[int, list[TableChange]]:
    """The row changes of the commits at exactly `times_us` (a time with no commit is
    left out; the last commit of a time is taken)."""

    wanted = set(times_us)
    found: dict[int, list[TableChange]] = {}
    for chain in chains_of(workspace, source):
        seqs: dict[int, int] = {}  # commit seq -> its time
        last = -1
        for number, segment in enumerate(chain.segments):
            if not any(segment.first_time_us <= t <= segment.last_time_us for t in wanted):
                continue
            try:
                with SegmentReader(segment.path) as reader:
                    at = {c.time_us: c.seq for c in reader.commits if c.time_us in wanted}
            except (SegmentDamaged, OSError) as exc:
                raise CorruptSnapshot(
                    f"the history of {source} cannot be read: {exc}", "run `lifeboat verify`"
                ) from None
            seqs.update((seq, time_us) for time_us, seq in at.items())
            last = number if at else last
        if seqs:
            counted = _counted(workspace, chain.base_id, chain.segments[: last + 1], seqs)
            found.update((seqs[seq], changes) for seq, changes in counted.items())
    return found


def _counted(
    workspace: Workspace, base_id: str, segments: list[SegmentFile], seqs: Iterable[int]
) -> dict[int, list[TableChange]]:
    """Count the row changes of the commits `seqs` of one chain, reading its base as a
    restore does (fetched from the remote if it is not here, decrypted into the run's
    scratch if sealed)."""
    from lifeboat.core.history.btree import MALFORMED
    from lifeboat.core.history.row_changes import commit_changes

    try:
        record = workspace.catalog.snapshot(base_id)
    except NotFound:
        raise NotFound(
            f"the snapshot those commits build on ({base_id}) is no longer kept",
            "pick a later commit; `lifeboat timeline` lists them",
        ) from None
    try:
        with snapshot_files(workspace, record, no_progress, CancelToken()) as files:
            parent = BaseRef(files.base[1], files.base[0]) if files.base else None
            base = BaseRef(files.manifest, files.folder, parent)
            pages = ChainPages(base, segments, workspace.run, workspace.scratch())
            try:
                order = sorted(seqs)
                pages.read_ahead(order)
                return {
                    seq: commit_changes(pages.state(seq - 1), pages.state(seq), pages.written(seq))
                    for seq in order
                }
            finally:
                pages.close()
    except (SegmentDamaged, *MALFORMED) as exc:
        raise CorruptSnapshot(
            f"the history on base {base_id} cannot be read: {exc}", "run `lifeboat verify`"
        ) from None
