"""The service's look inside any backup point, without restoring it.

`Service.open_point(ref, at)` gives the pages of a point (core/point_pages.PointPages)
as a context manager: `ref` is a snapshot id, or a source name (with `at`: the point at
or before it, as `restore --at` chooses; without: the newest point). Any kind of point
reads the same way: a full or differential snapshot, a commit of the continuous
history, kept here or only on a remote, sealed or not: what is not here is fetched, and
what is sealed decrypted, into this run's scratch space (remote/fetch.snapshot_files),
all removed on close. `Service.query_point` runs read-only SQL on one
(core/point_query.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError, CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.point_pages import PointPages
    from lifeboat.remote.fetch import SnapshotFiles

if TYPE_CHECKING:
    from types import TracebackType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PointLabel:
    """Which point was opened (for a reader to say what it shows)."""

    source: str
    snapshot_id: str  # the snapshot read (a history point's base)
    time: datetime  # when the point was taken (a commit's capture time)
    commit_seq: int = 0  # a history point's commit; 0 for a snapshot


class OpenedPoint:
    """A point's pages (PointPages) that also closes what opening it needed."""

    def __init__(self, pages: PointPages, label: PointLabel, stack: contextlib.ExitStack) -> None:
        from lifeboat.core.point_pages import CachedPages

        self.pages = CachedPages(pages)
        self.label = label
        self.page_size, self.page_count = pages.page_size, pages.page_count
        self._stack = stack

    def page(self, number: int) -> bytes:
        return self.pages.page(number)

    def close(self) -> None:
        try:
            self.pages.close()
        finally:
            self._stack.close()

    def __enter__(self) -> OpenedPoint:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def snapshot_pages(workspace: Workspace, files: SnapshotFiles) -> PointPages:
    """The pages of the snapshot in `files` (a differential over its base's)."""
    from lifeboat.core.point_diff import DiffPages
    from lifeboat.core.point_pages import full_pages
    from lifeboat.core.seekable_pages import open_pages

    run, scratch = workspace.run, workspace.scratch()
    manifest = files.manifest
    if files.base is None:
        return full_pages(
            files.folder / manifest.artifact, manifest.page_size, manifest.page_count, run, scratch
        )
    base_folder, base = files.base
    artifact, under_artifact = files.folder / manifest.artifact, base_folder / base.artifact
    direct = open_pages(artifact, manifest, (under_artifact, base))
    if direct is not None:  # both seekable (format 3): the differential's index finds pages
        return direct
    under = full_pages(base_folder / base.artifact, base.page_size, base.page_count, run, scratch)
    try:
        return DiffPages(under, files.folder / manifest.artifact, manifest.id, run, scratch)
    except BaseException:
        under.close()
        raise


def open_point(
    workspace: Workspace,
    ref: str,
    at: datetime | None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> OpenedPoint:
    """The pages of the point `ref` (and `at`) means (Service.open_point)."""
    cancel = cancel or CancelToken()
    stack = contextlib.ExitStack()
    try:
        pages, label = _open_point(workspace, stack, ref, at, progress, cancel)
    except BaseException:
        stack.close()
        raise
    return OpenedPoint(pages, label, stack)


def _open_point(
    workspace: Workspace,
    stack: contextlib.ExitStack,
    ref: str,
    at: datetime | None,
    progress: Progress,
    cancel: CancelToken,
) -> tuple[PointPages, PointLabel]:
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.points import resolve_point
    from lifeboat.core.point_diff import HistoryPages
    from lifeboat.remote.fetch import snapshot_files
    from lifeboat.service.points import point_chains

    if ref not in workspace.config().sources:
        if at is not None:
            raise ConfigError(
                f"{ref} is not a source: --at needs a source name",
                "give a source name with --at, or a snapshot id alone",
            )
        record = workspace.catalog.snapshot(ref)
        return _snapshot(workspace, stack, record, progress, cancel), _label(record)
    moment = at if at is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    choice, chains = stack.enter_context(point_chains(workspace, ref, moment, progress, cancel))
    record = workspace.catalog.snapshot(choice.base_id)
    if choice.snapshot_only:
        return _snapshot(workspace, stack, record, progress, cancel), _label(record)
    files = stack.enter_context(snapshot_files(workspace, record, progress, cancel))
    parent = BaseRef(files.base[1], files.base[0]) if files.base else None
    point = resolve_point(
        BaseRef(files.manifest, files.folder, parent),
        list(chains[choice.base_id]),
        _us(choice.commit_time),
    )
    if point is None or point.commit_seq != choice.commit_seq:
        raise CorruptSnapshot(f"the history of {ref} changed while it was read", "try again")
    base = snapshot_pages(workspace, files)
    try:
        pages = HistoryPages(base, point.segments, point.commit_seq)
    except BaseException:
        base.close()
        raise
    label = PointLabel(choice.source, record.id, choice.commit_time, choice.commit_seq)
    return pages, label


def _snapshot(
    workspace: Workspace,
    stack: contextlib.ExitStack,
    record: SnapshotRecord,
    progress: Progress,
    cancel: CancelToken,
) -> PointPages:
    from lifeboat.remote.fetch import snapshot_files

    if record.manifest.kind == "raw":
        raise ConfigError(
            f"snapshot {record.id} is a raw safety copy (the files of a database SQLite "
            "could not read), not a point to look inside",
            f"get its files back with: lifeboat restore {record.id} --to FILE",
        )
    files = stack.enter_context(snapshot_files(workspace, record, progress, cancel))
    return snapshot_pages(workspace, files)


def _label(record: SnapshotRecord) -> PointLabel:
    return PointLabel(record.source, record.id, record.manifest.created_at)


def _us(moment: datetime) -> int:
    """Microseconds since the epoch (an aware moment), as the history counts time."""
    return (moment - _EPOCH) // timedelta(microseconds=1)
