"""The service's row history: every version of one row across a source's points.

The points, oldest first: each snapshot in the catalog (full or differential, kept
here or only on a remote) and each commit of the continuous history as kept. The row
is looked up at a point only when the pages its last lookup read may have changed there
(core/history/row_points.py):
- a commit: the pages it wrote (its segment's index says, nothing decompressed);
- a differential: the pages it holds (one pass over it), against its full base's lookup;
- a full snapshot: the pages whose hashes in its page-hash list differ from the
  previous full snapshot's (page 1 and those are read from the front of it).
So most points cost nothing, and a snapshot is read in full only where the row's
pages changed in it. Reads only: snapshots are read as a restore reads them
(remote/fetch.snapshot_files: fetched, decrypted into this run's scratch if sealed;
a differential rebuilt there when its row must be looked up), all removed afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.foundation.errors import (
    Cancelled,
    ConfigError,
    CorruptSnapshot,
    LifeboatError,
    NotFound,
    OperationFailed,
)
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.foundation.states import SnapshotStatus
from lifeboat.service.row_history_remote import remote_history

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.chain import SegmentFile
    from lifeboat.core.history.page_reader import BasePages, ChainPages
    from lifeboat.core.history.row_lookup import KeySpec
    from lifeboat.core.history.row_points import (
        BaseState,
        CommitState,
        Seen,
    )
    from lifeboat.core.history.row_versions import (
        Observation,
        RowHistory,
        RowPoint,
    )
    from lifeboat.core.history.segment import CommitEntry
    from lifeboat.core.history.segment_read import SegmentReader
    from lifeboat.core.history.tables import Pages
    from lifeboat.core.workspace import Workspace

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logging.getLogger(__name__)


@dataclass
class _Walk:
    """What the walk so far knows: each snapshot's lookup, the last full one's."""

    table: str
    key: KeySpec
    by_snapshot: dict[str, Seen]
    last_full: Seen | None = None  # the row at the last full snapshot
    times: list[tuple[int, Seen]] = field(default_factory=list)  # each point's, by time

    def before(self, time_us: int) -> Seen | None:
        """The row at the last point seen at or before `time_us`."""
        earlier = [(t, i) for i, (t, _) in enumerate(self.times) if t <= time_us]
        return self.times[max(earlier)[1]][1] if earlier else None

    lookups: int = 0  # rows looked up (the rest were carried over)


def row_history(
    workspace: Workspace, source: str, table: str, key: KeySpec, cancel: CancelToken | None = None
) -> RowHistory:
    """Every version of the row of `table` with `key` across the source's points
    (snapshots and the commits of its continuous history), oldest first: there at
    the oldest point, created, changed (which columns), deleted; with the snapshots
    that could not be read (and why), which it does without."""
    from lifeboat.core.history.row_lookup import KeyMismatch
    from lifeboat.core.history.row_versions import RowHistory, row_versions

    name = workspace.config().source(source).name
    if not table:
        raise ConfigError("give the table: --table NAME", "see `lifeboat history --help`")
    try:
        seen = observations(workspace, name, table, key, cancel or CancelToken())
    except KeyMismatch as exc:
        raise ConfigError(str(exc), "see `lifeboat history --help`") from None
    found = seen.found
    if not any(o.table_exists for o in found):
        if seen.unreadable:
            snapshot_id, why = seen.unreadable[0]
            raise CorruptSnapshot(
                f"no backup point of {name} could be read (snapshot {snapshot_id}: {why})",
                "run `lifeboat verify`",
            )
        if not found:
            raise NotFound(
                f"{name} has no backup point yet", f"take one with: lifeboat backup {name}"
            )
        raise NotFound(
            f"no backup point of {name} has a table named {table}",
            "check the spelling of the table's name",
        )
    versions = row_versions(found)
    return RowHistory(versions, len(found), seen.lookups, seen.unreadable)


@dataclass
class Observed:
    found: list[Observation]  # the row at each point read
    lookups: int  # at how many points it was looked up (the others carried over)
    unreadable: list[tuple[str, str]]  # the snapshots not read: id, why


def observations(
    workspace: Workspace, source: str, table: str, key: KeySpec, cancel: CancelToken
) -> Observed:
    """The row at every point of `source` that can be read, oldest first."""
    from lifeboat.core.history.btree import MALFORMED
    from lifeboat.core.history.row_shape import ShapeUnknown
    from lifeboat.core.history.segment_read import SegmentDamaged
    from lifeboat.service.history import chains_of

    records = [
        r
        for r in workspace.catalog.snapshots(source)
        if r.status in (SnapshotStatus.OK, SnapshotStatus.REMOTE) and r.manifest.kind != "raw"
    ]
    records.sort(key=lambda r: (r.manifest.created_at, r.id))
    local = {c.base_id: c.segments for c in chains_of(workspace, source) if c.segments}
    walk = _Walk(table, key, {})
    seen = Observed([], 0, [])
    with remote_history(workspace, source, local, cancel) as (far, remote):
        chains = {**far, **local}
        for record in records:
            cancel.check()
            # commits of a chain read from the remote say so (RowPoint.remote)
            from_remote = remote if record.id in far else None
            try:
                seen.found += _at_snapshot(
                    workspace, record, (chains.get(record.id), from_remote), walk, cancel
                )
            except Cancelled:
                raise
            except ShapeUnknown as exc:
                raise LifeboatError(str(exc), "this table cannot be followed here") from None
            except (SegmentDamaged, *MALFORMED) as exc:
                seen.unreadable.append((record.id, f"it cannot be read: {exc}"))
            except OperationFailed as exc:  # damaged, missing, its remote out of reach
                seen.unreadable.append((record.id, exc.message))
    seen.lookups = walk.lookups
    return seen


def _point_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _point(record: SnapshotRecord) -> RowPoint:
    from lifeboat.core.history.row_versions import PointKind, RowPoint

    at = record.manifest.created_at.astimezone(UTC)
    kind = PointKind.DIFF if record.manifest.kind == "diff" else PointKind.FULL
    remote = record.copies[0].remote if not record.local and record.copies else None
    return RowPoint(at, kind, record.id, _point_us(at), remote)


def _at_snapshot(
    workspace: Workspace,
    record: SnapshotRecord,
    chained: tuple[Sequence[SegmentFile] | None, str | None],
    walk: _Walk,
    cancel: CancelToken,
) -> list[Observation]:
    """The row at the snapshot, then at each commit of the chain built on it (`chained`:
    its segments, and the remote they were read from, if not here)."""
    chain, from_remote = chained
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.row_versions import Observation
    from lifeboat.remote.fetch import snapshot_files

    with snapshot_files(workspace, record, no_progress, cancel) as files:
        parent = BaseRef(files.base[1], files.base[0]) if files.base else None
        ref = BaseRef(files.manifest, files.folder, parent)
        with _opened(workspace, ref, chain) as opener:
            seen = _snapshot_row(ref, walk, opener)
            walk.by_snapshot[record.id] = seen
            walk.times.append((_point_us(record.manifest.created_at), seen))
            found = [Observation(_point(record), seen.read.exists, seen.read.values)]
            if chain is not None:
                found += _chain_rows(opener.chain(), seen, walk, cancel, from_remote)
            return found


class _Opener:
    """A snapshot's pages, opened only when needed (a differential is rebuilt then)."""

    def __init__(
        self, workspace: Workspace, ref: BaseRef, chain: Sequence[SegmentFile] | None
    ) -> None:
        self.workspace, self.ref, self.segments = workspace, ref, list(chain or ())
        self._chain: ChainPages | None = None
        self._parent: BasePages | None = None
        self.diff_images: dict[int, bytes] | None = None  # a differential's, once read

    def chain(self) -> ChainPages:
        from lifeboat.core.history.page_reader import ChainPages

        if self._chain is None:
            run, scratch = self.workspace.run, self.workspace.scratch()
            self._chain = ChainPages(self.ref, self.segments, run, scratch)
        return self._chain

    def base(self) -> BaseState:
        from lifeboat.core.history.row_points import BaseState

        return BaseState(self.chain().base)

    def parent_pages(self, wanted: set[int]) -> dict[int, bytes]:
        """Pages of a differential's full base."""
        from lifeboat.core.history.page_reader import BasePages

        if self._parent is None:
            assert self.ref.parent is not None
            run, scratch = self.workspace.run, self.workspace.scratch()
            self._parent = BasePages(self.ref.parent, run, scratch)
        return self._parent.get(wanted)

    def close(self) -> None:
        if self._chain is not None:
            self._chain.close()
        if self._parent is not None:
            self._parent.close()


@contextlib.contextmanager
def _opened(
    workspace: Workspace, ref: BaseRef, chain: Sequence[SegmentFile] | None
) -> Iterator[_Opener]:
    opener = _Opener(workspace, ref, chain)
    try:
        yield opener
    finally:
        opener.close()


def _snapshot_row(ref: BaseRef, walk: _Walk, opener: _Opener) -> Seen:
    """The row at a snapshot: the last lookup's (the point before, or the base's) when
    the pages it read are the same there, else looked up in the snapshot."""
    manifest = ref.manifest
    diff = manifest.kind == "diff"
    earlier = walk.by_snapshot.get(manifest.base or "") if diff else walk.last_full
    at_us = _point_us(manifest.created_at)
    candidates = [c for c in (walk.before(at_us), earlier) if c is not None]
    if len(candidates) == 2 and candidates[0] is candidates[1]:
        candidates.pop()
    seen = next((c for c in candidates if _holds(ref, opener, c, candidates)), None)
    if seen is None:
        seen = _looked_up(walk, opener.base())
    if not diff:
        walk.last_full = seen
    return seen


def _holds(ref: BaseRef, opener: _Opener, seen: Seen, candidates: list[Seen]) -> bool:
    from lifeboat.core.history.row_points import PageHashes, diff_pages, holds_same

    manifest = ref.manifest
    if manifest.kind != "diff":
        hashes = PageHashes(ref.pages_file) if ref.pages_file.is_file() else None
        return holds_same(seen, manifest.page_count, {}, hashes, opener.base().pages)
    parent = ref.parent
    if parent is None:
        return False
    if opener.diff_images is None:
        keep = set().union(*(c.read.watched for c in candidates))
        _, opener.diff_images = diff_pages(ref.artifact, manifest.page_size, keep)
    hashes = PageHashes(parent.pages_file) if parent.pages_file.is_file() else None
    return holds_same(seen, manifest.page_count, opener.diff_images, hashes, opener.parent_pages)


def _looked_up(walk: _Walk, state: Pages) -> Seen:
    from lifeboat.core.history.row_points import observe

    walk.lookups += 1
    return observe(state, walk.table, walk.key)


def _after(
    pages: ChainPages,
    reader: SegmentReader,
    places: dict[int, tuple[int, int]],
    seen: Seen,
    commit: CommitEntry,
) -> CommitState:
    """The state after `commit` for a new lookup (core/history/row_points.py)."""
    from lifeboat.core.history.row_points import CommitState

    own: dict[int, Callable[[], bytes]] = {
        n: functools.partial(reader.page, *place) for n, place in places.items()
    }
    return CommitState(own, seen.images, commit.page_count, lambda: pages.state(commit.seq))


def _chain_rows(
    pages: ChainPages, seen: Seen, walk: _Walk, cancel: CancelToken, remote: str | None
) -> list[Observation]:
    """The row after each commit of the chain, looked up again only after a commit
    that wrote one of the pages the last lookup read with other bytes (the commit's
    own images, read from its segment) or cut the file below them."""
    from lifeboat.core.history.row_points import unchanged
    from lifeboat.core.history.row_versions import Observation, PointKind, RowPoint

    found = []
    for reader in pages.segments:
        cancel.check()
        written: dict[int, dict[int, tuple[int, int]]] = {}  # ordinal -> page -> place
        for page, ordinal, frame, offset in reader.index.pages:
            written.setdefault(ordinal, {})[page] = (frame, offset)
        for ordinal, commit in enumerate(reader.commits):
            places = written.get(ordinal, {})
            suspect = seen.read.watched & places.keys()
            if suspect or commit.page_count < max(seen.read.watched, default=0):
                images = {n: reader.page(*places[n]) for n in suspect}
                if not unchanged(seen, commit.page_count, images):
                    seen = _looked_up(walk, _after(pages, reader, places, seen, commit))
            at = _EPOCH + timedelta(microseconds=commit.time_us)
            point = RowPoint(at, PointKind.COMMIT, None, commit.time_us, remote)
            found.append(Observation(point, seen.read.exists, seen.read.values))
            walk.times.append((commit.time_us, seen))
    return found
