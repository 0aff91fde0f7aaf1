"""What a backup goes by: when a source was last backed up (its newest good snapshot, or
a later backup that proved the database unchanged since it), and the snapshot a new copy
is compared with (the newest one here whose bytes are proven still as taken)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.hashing import still_as_written
from lifeboat.core.hooks import HookResult
from lifeboat.core.manifest import Manifest
from lifeboat.core.schedule_times import resolve_timezone
from lifeboat.core.unchanged import UNCHANGED_KEY, latest, proven_unchanged_at, unchanged_message
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.jobs.base import JobOutcome

log = logging.getLogger(__name__)

#: The snapshots that cover a schedule's period (a scheduled run is skipped after one):
#: the schedule's own runs (on time or caught up) and a backup the user asked for. A
#: snapshot taken for another purpose does not: a pre-restore safety copy holds the data
#: from BEFORE a restore (the restored data still needs its backup), and one taken with a
#: reason of the user's own ("before the upgrade") is taken ahead of a change.
COVERING_REASONS = frozenset({"scheduled", "catch-up", "manual"})

#: How many of a source's newest jobs are searched for the last unchanged check.
_JOBS_SEARCHED = 200


def last_good_snapshot(
    workspace: Workspace, source: str, *, reasons: frozenset[str] | None = None
) -> datetime | None:
    """When the newest good snapshot of `source` was taken (None if there is none);
    with `reasons`, only a snapshot taken for one of them counts."""
    for record in workspace.catalog.snapshots(source):
        if record.status != "ok" or record.manifest.kind == "raw":
            continue
        if reasons is None or record.manifest.reason in reasons:
            return record.manifest.created_at
    return None


def last_backed_up(
    workspace: Workspace, source: str, *, reasons: frozenset[str] | None = None
) -> datetime | None:
    """When `source` was last backed up: its newest good snapshot (with `reasons`, one
    taken for them), or a later backup that found the database unchanged (only scheduled
    and manual backups compare, so such a check always covers its period)."""
    jobs = workspace.catalog.jobs(limit=_JOBS_SEARCHED, source=source)
    return latest(
        last_good_snapshot(workspace, source, reasons=reasons), proven_unchanged_at(jobs, source)
    )


def newest_intact(
    workspace: Workspace, source: str, hashed: dict[Path, str] | None = None
) -> SnapshotRecord | None:
    """The newest good snapshot of `source` kept here, if its bytes (and a differential's
    base's) are proven still as taken: only such a snapshot may stand for a database
    that holds what it holds (a backup then stores nothing, a restore keeps it as the
    safety copy)."""
    newest = next(
        (
            r
            for r in workspace.catalog.snapshots(source)
            if r.status == "ok" and r.local and r.manifest.kind != "raw"
        ),
        None,
    )
    return newest if newest is not None and intact_here(workspace, newest, hashed) else None


def intact_here(
    workspace: Workspace, record: SnapshotRecord, hashed: dict[Path, str] | None = None
) -> bool:
    """Whether the snapshot (and a differential's base) is here with exactly the bytes it
    had when it was taken and checked. `hashed`: the SHA-256 of files already hashed in
    this job (read, and filled with those proven): one job proving the same base twice
    hashes it once."""
    chain = [record]
    if record.manifest.kind == "diff":
        try:
            base = workspace.catalog.snapshot(str(record.manifest.base))
        except LifeboatError:
            return False
        if base.status != "ok" or not base.local:
            return False
        chain.append(base)
    for item in chain:
        sealed = item.manifest.local_encryption
        expected = sealed.sha256 if sealed else item.manifest.sha256
        digest = hashed.get(item.path) if hashed is not None else None
        if digest is None:
            try:
                # by the xxh3-128 recorded when it was written, else its SHA-256
                if not still_as_written(item.path, expected, item.manifest.extra):
                    return False
            except OSError:
                return False
            digest = expected  # these bytes are the ones that SHA-256 was taken of
            if hashed is not None:
                hashed[item.path] = digest
        if digest != expected:
            return False
    return True


def unchanged_outcome(
    workspace: Workspace, manifest: Manifest, hooks: list[HookResult]
) -> JobOutcome[Manifest | None]:
    """The outcome of a backup that found the database as snapshot `manifest` holds it:
    a success that stored nothing."""
    tz = resolve_timezone(workspace.config().general.timezone)
    log.info("%s is unchanged since snapshot %s; nothing new stored", manifest.source, manifest.id)
    return JobOutcome(
        result=None,
        message=unchanged_message(manifest.created_at, tz),
        detail={UNCHANGED_KEY: manifest.id, "hooks": [h.to_json() for h in hooks]},
    )
