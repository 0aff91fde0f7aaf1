"""The past copy a row merge reads, written the cheap way when it can be: only the pages
of the merged table (core/rowmerge_past.py) read through the point's pages, when every
page read is checked as it is read (a seekable artifact's frames against its seek
table's hashes, a history segment's against its own). Otherwise (an artifact of one
zstd frame, whose checksum is known only at its end; a table that is most of the
database; a --where that may read other tables) the whole point is written, as a
restore writes it, and proven whole.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.points import resolve_point
from lifeboat.core.live_pass import PassShare
from lifeboat.core.point_diff import HistoryPages
from lifeboat.core.point_pages import PointPages
from lifeboat.core.rowmerge_past import write_table_pages
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.core.seekable_pages import open_pages
from lifeboat.foundation.progress import CancelToken
from lifeboat.remote.fetch import SnapshotFiles

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logging.getLogger(__name__)
_SELECT = re.compile(r"\bselect\b", re.IGNORECASE)


def table_only(request: MergeRequest) -> str | None:
    """The table whose pages are enough for the request (None: a --where that may read
    other tables needs the whole point)."""
    if request.where is not None and _SELECT.search(request.where):
        return None
    return request.table


def checked_pages(files: SnapshotFiles) -> PointPages | None:
    """The snapshot's pages, each frame checked as it is read (None: not seekable)."""
    manifest = files.manifest
    artifact = files.folder / manifest.artifact
    if files.base is None:
        return open_pages(artifact, manifest) if manifest.kind == "full" else None
    base_folder, base = files.base
    return open_pages(artifact, manifest, (base_folder / base.artifact, base))


def write_snapshot_table(files: SnapshotFiles, table: str, out: Path) -> bool:
    """Only the table's pages of the snapshot into `out`; False: nothing written."""
    pages = checked_pages(files)
    if pages is None:
        return False
    try:
        return _said(write_table_pages(pages, table, out), table, files.manifest.id)
    finally:
        pages.close()


def write_snapshot_changed_rows(
    files: SnapshotFiles,
    request: MergeRequest,
    live: Path,
    out: Path,
    cancel: CancelToken,
    *,
    checkpoint: bool,
    share: PassShare | None = None,
) -> bool:
    """Only the rows of the request's table on the full snapshot's pages that differ
    from the live database (core/rowmerge_changed_rows) into `out`; False: nothing
    written (the snapshot has no page-hash list or seek table, or it is not proven)."""
    from lifeboat.core.preview_pages import page_list
    from lifeboat.core.rowmerge_changed_rows import write_changed_rows

    manifest = files.manifest
    listed = page_list(files.folder, manifest) if files.base is None else None
    pages = checked_pages(files) if listed is not None else None
    if listed is None or pages is None:
        return False
    try:
        written = write_changed_rows(
            pages, listed, live, request, out, cancel, checkpoint=checkpoint, share=share
        )
    finally:
        pages.close()
    if written:
        log.info(
            "the past of %s: only the rows of the pages that changed since snapshot %s were read",
            request.table,
            manifest.id,
        )
    return written


def _said(written: bool, table: str, snapshot_id: str) -> bool:
    if written:
        log.info("the past of %s: only its pages were read, from snapshot %s", table, snapshot_id)
    return written


def write_point_table(
    files: SnapshotFiles,
    segments: Sequence[SegmentFile],
    commit_time: datetime,
    commit_seq: int,
    table: str,
    out: Path,
) -> bool:
    """Only the table's pages of the history point after commit `commit_seq` (on the
    snapshot in `files`) into `out`; False: nothing written."""
    parent = BaseRef(files.base[1], files.base[0]) if files.base else None
    point = resolve_point(
        BaseRef(files.manifest, files.folder, parent),
        list(segments),
        (commit_time - _EPOCH) // timedelta(microseconds=1),
    )
    if point is None or point.commit_seq != commit_seq:
        return False  # the whole rebuild says what is wrong
    base = checked_pages(files)
    if base is None:
        return False
    try:
        pages = HistoryPages(base, point.segments, point.commit_seq)
    except BaseException:
        base.close()
        raise
    try:
        return _said(write_table_pages(pages, table, out), table, files.manifest.id)
    finally:
        pages.close()
