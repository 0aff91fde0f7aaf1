"""A source's snapshots as its status shows them (service/status.py), read without
parsing every manifest.

With 10,000 snapshots, reading each record (its manifest is JSON) was most of
`lifeboat status`. The counts and sizes, the newest usable snapshot, the newest
continuous ones and the unproven copies of every source are one read of the catalog
(catalog.source_snapshots). Only a source with a snapshot not yet proven on its remote
reads all its records: which are still to upload is the remote's retention over all
of them (remote/plans.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifeboat.core.catalog_records import SnapshotRecord, SourceSnapshots
from lifeboat.core.catalog_snapshots import FOR_REASON_KEPT

if TYPE_CHECKING:
    from lifeboat.core.config_model import SourceConfig
    from lifeboat.core.workspace import Workspace

#: Snapshots waiting this long for their upload mean the remote is unreachable.
REMOTE_PATIENCE = timedelta(days=1)
#: The reason of the snapshots continuous protection takes of a rollback-journal
#: database (scheduling/journal_watch.py); the continuous state looks at them.
CONTINUOUS_REASON = "continuous"


def snapshot_fields(
    workspace: Workspace,
    src: SourceConfig,
    remote: str | None,
    known: SourceSnapshots,
    now: datetime,
) -> tuple[dict[str, Any], list[SnapshotRecord]]:
    """SourceStatus's fields about `src`'s snapshots (`remote`: the remote it uploads
    to, if that is configured), and its newest continuous snapshots."""
    pending: list[SnapshotRecord] = []
    # Uploads are planned only when some snapshot that could go up has no proven copy
    # there: else the plan is empty (it only ever picks such snapshots), and reading
    # every record for it took most of a status (every 15 s in the tray).
    if remote is not None and known.usable > known.proven.get(remote, 0):
        from lifeboat.remote.plans import plan_uploads  # only sources with a remote

        records = workspace.catalog.snapshots(src.name)
        pending = plan_uploads(records, remote, src.remote_policy, now)
    newest = known.newest_usable
    fields = {
        "last_snapshot": newest.manifest.created_at if newest else None,
        "last_snapshot_id": newest.id if newest else None,
        "snapshots": known.count,
        "snapshot_bytes": known.stored_bytes,
        "damaged": known.damaged,
        "missing_files": known.missing,
        "uploads_pending": len(pending),
        "remote_behind": any(now - r.manifest.created_at > REMOTE_PATIENCE for r in pending),
        "unproven_copies": known.unproven.get(src.remote, 0) if src.remote else 0,
    }
    return fields, list(known.for_reason)


def continuous_snapshots(
    workspace: Workspace, src: SourceConfig, newest: list[SnapshotRecord], bases: set[str]
) -> list[SnapshotRecord]:
    """The continuous snapshots the continuous state looks through for the newest that
    is no chain's base: the newest ones read with the counts, or, when each of those is
    a base and there may be more, all of them."""
    if len(newest) >= FOR_REASON_KEPT and all(r.id in bases for r in newest):
        return workspace.catalog.snapshots_for(src.name, CONTINUOUS_REASON)
    return newest
