"""A point of a source's continuous history: chosen for a moment, rebuilt and checked.

`choose_point` turns a moment into the last commit at or before it (core/history/
spans.py says which times can be restored at all); `rebuild_checked` writes that point's
database into a new file (core/history/points.rebuild_point: the base's pages with the
segments' newer images, its state digest proven where the point ends a segment) and runs
the integrity check a restore runs (on the finished file while it is fsynced, before it
is published). The base is read like any snapshot (its remote copy
if it is not here; decrypted into this run's scratch space if it is kept sealed, with the
identities the service holds), so the restore, preview and drill paths that use a
snapshot use a point the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.dbcheck import check_database
from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.owners_file import base_owners
from lifeboat.core.history.point_check import narrowed_check
from lifeboat.core.history.points import PointCheck, RewrittenPages, rebuild_point, resolve_point
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.core.history.spans import ChainTimes, CommitTime, NotRestorable, chain_at
from lifeboat.core.results import PointChoice
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError, NotFound
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import SnapshotStatus
from lifeboat.remote.fetch import snapshot_files

Chains = Mapping[str, Sequence[SegmentFile]]
#: 0: not mapped, so a check's memory stays bounded whatever the size (core/verify.py)
_CHECK_MMAP = 0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (an aware moment)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return (moment - _EPOCH) // _MICROSECOND


def _time(time_us: int) -> datetime:
    return _EPOCH + time_us * _MICROSECOND


def chain_times(workspace: Workspace, chains: Chains) -> list[ChainTimes]:
    """Every commit's time and flags of the chains whose base is in the catalog (a
    chain without its base cannot be restored)."""
    found = []
    for base_id, segments in chains.items():
        try:
            workspace.catalog.snapshot(base_id)
        except NotFound:
            continue
        _check_continuous(base_id, segments)
        commits: list[CommitTime] = []
        for segment in segments:
            try:
                with SegmentReader(segment.path) as reader:
                    commits += [CommitTime(c.seq, c.time_us, c.flags) for c in reader.commits]
            except (SegmentDamaged, OSError) as exc:
                raise CorruptSnapshot(
                    f"the history of base {base_id} cannot be read: {exc}",
                    "run `lifeboat verify`; restore a snapshot instead",
                ) from None
        found.append(ChainTimes(base_id, commits))
    return found


def _check_continuous(base_id: str, segments: Sequence[SegmentFile]) -> None:
    """The segments must hold every commit from the chain's first on, each starting at
    the state the one before ended at: a missing or unreadable segment is a hole."""
    expected_seq, expected_digest = 1, None
    for segment in segments:
        if segment.first_seq != expected_seq or (
            expected_digest is not None and segment.previous_digest != expected_digest
        ):
            raise CorruptSnapshot(
                f"the history of base {base_id} has a hole before {segment.path.name} "
                "(a segment is missing or cannot be read)",
                "run `lifeboat verify`; restore a snapshot instead",
            )
        expected_seq, expected_digest = segment.last_seq + 1, segment.end_digest


def choose_point(
    workspace: Workspace, source: str, chains: Chains, at: datetime, now: datetime
) -> PointChoice:
    """The last commit at or before `at`; when no commit stands for it (no history, a
    time before it or in a gap), the last snapshot at or before `at` if it is newer than
    the nearest commit before; else a LifeboatError naming the nearest restorable times."""
    times = chain_times(workspace, chains)
    at_us = _us(at)
    try:
        base_id = chain_at(times, at_us, _us(now))
    except NotRestorable as exc:
        snapshot = None if at_us > _us(now) else _snapshot_at(workspace, source, at)
        if snapshot is not None and (
            exc.earlier_us is None or _us(snapshot.manifest.created_at) > exc.earlier_us
        ):
            return PointChoice(
                source, at, snapshot.id, 0, snapshot.manifest.created_at, 0, snapshot_only=True
            )
        raise LifeboatError(
            f"source {source}: {exc}",
            "pick a time the history covers (see `lifeboat timeline " + source + "`)",
        ) from None
    commits = next(c.commits for c in times if c.base_id == base_id)
    last = [c for c in commits if c.time_us <= at_us][-1]
    return PointChoice(source, at, base_id, last.seq, _time(last.time_us), last.flags)


def _snapshot_at(workspace: Workspace, source: str, at: datetime) -> SnapshotRecord | None:
    """The newest snapshot of `source` taken at or before `at` that can be restored (kept
    here and not found damaged or missing, or kept on a remote only). A raw safety copy
    is not one: it holds the unreadable file a restore replaced."""
    unusable = (SnapshotStatus.CORRUPT, SnapshotStatus.MISSING)
    for record in workspace.catalog.snapshots(source):  # newest first
        usable = record.status not in unusable and record.manifest.kind != "raw"
        if record.manifest.created_at <= at and usable:
            return record
    return None


def point_check(choice: PointChoice, check: str, base: BaseRef | None = None) -> PointCheck | None:
    """The source's integrity check of the rebuilt point (None: the source checks
    nothing); a finding refuses the point, named after its commit. With the base's page
    owners (a full base's `.owners` file, made when its check passed), only the b-trees
    the point touched are checked by SQLite and the rest is proven unchanged
    (core/history/point_check.py); else, or whenever that proof does not hold, SQLite's
    whole check runs."""
    if check == "none":
        return None
    owners = base_owners(base) if base is not None else None

    def run_check(path: Path, written: RewrittenPages) -> None:
        outcome = narrowed_check(path, written, owners, check)
        if outcome is None:
            outcome = check_database(path, check, mmap_size=_CHECK_MMAP)
        if not outcome.ok:
            raise CorruptSnapshot(
                f"the point of {choice.source} at commit {choice.commit_seq} fails its "
                f"integrity check: {outcome.summary}",
                "pick another time, or restore a snapshot",
            )

    return run_check


def rebuild_checked(
    workspace: Workspace,
    choice: PointChoice,
    chains: Chains,
    dest: Path,
    *,
    check: str,
    progress: Progress,
    cancel: CancelToken,
    kept: bool = False,
) -> Path:
    """Write the chosen point's database to the new file `dest` and check it (nothing is
    left at `dest` if anything fails). `kept`: `dest` is the restore's result, not read
    back whole (history/points.rebuild_point)."""
    segments = list(chains[choice.base_id])
    record = workspace.catalog.snapshot(choice.base_id)
    try:
        with snapshot_files(workspace, record, progress, cancel) as files:
            parent = BaseRef(files.base[1], files.base[0]) if files.base else None
            base = BaseRef(files.manifest, files.folder, parent)
            point = resolve_point(base, segments, _us(choice.commit_time))
            if point is None or point.commit_seq != choice.commit_seq:
                raise CorruptSnapshot(
                    f"the history of {choice.source} changed while it was read",
                    "try again",
                )
            cancel.check()
            # Not redundant with the state digest: the digest proves the bytes are the
            # state captured, but a captured state was never checked by SQLite (a
            # snapshot is, when taken), and a point inside a segment has no digest to
            # prove. So the source's check runs, as for a snapshot's restore: on the
            # finished file beside its fsync, before it is published.
            checking = point_check(choice, check, base)
            rebuild_point(point, dest, workspace.run, workspace.scratch(), checking, kept=kept)
        cancel.check()
    except SegmentDamaged as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise CorruptSnapshot(
            f"the history of {choice.source} is damaged: {exc}",
            "pick a time before it, or restore a snapshot",
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise
    return dest
