"""What should go up to a remote, what its retention prunes there, and deleting a
remote copy (manifest first)."""

from __future__ import annotations

import logging
from datetime import datetime

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.retention import Decision, RetentionPolicy, apply_policy, snapshot_info
from lifeboat.core.stores import RemoteStore
from lifeboat.core.workspace import Workspace

log = logging.getLogger(__name__)


def plan_uploads(
    records: list[SnapshotRecord], remote: str, policy: RetentionPolicy, now: datetime
) -> list[SnapshotRecord]:
    """Local snapshots missing on `remote` that its retention would keep, oldest first.
    A copy that is not proven counts as missing (the upload job proves it first, and
    sends it again only if that fails)."""
    present = [r for r in records if r.proven_copy_on(remote) is not None]
    candidates = [
        r
        for r in records
        if r.proven_copy_on(remote) is None and r.status == "ok" and r.manifest.kind != "raw"
    ]
    infos = [snapshot_info(r, assume_good=True) for r in present] + [
        snapshot_info(r) for r in candidates
    ]
    keep = {d.snapshot.id for d in apply_policy(infos, policy, now) if d.keep}
    wanted = {r.id: r for r in candidates if r.id in keep}
    on_remote = {r.id for r in present}
    by_id = {r.id: r for r in records}
    for record in list(wanted.values()):  # a differential goes up only with its base
        base = record.manifest.base
        if record.manifest.kind != "diff" or base in on_remote or base in wanted:
            continue
        base_record = by_id.get(str(base))
        if base_record is not None and base_record.status == "ok":
            wanted[base_record.id] = base_record
        else:
            log.warning(
                "snapshot %s is not uploaded: its base %s is not here to go first", record.id, base
            )
            del wanted[record.id]
    return sorted(
        wanted.values(), key=lambda r: (r.manifest.kind != "full", r.manifest.created_at, r.id)
    )


def plan_remote_prune(
    records: list[SnapshotRecord], remote: str, policy: RetentionPolicy, now: datetime
) -> list[Decision]:
    """Retention on the remote's proven copies. An unproven copy counts neither toward
    keeping nor for deletion: it is never deleted for being unproven."""
    present = [r for r in records if r.proven_copy_on(remote) is not None]
    return apply_policy([snapshot_info(r, assume_good=True) for r in present], policy, now)


def delete_remote_copy(
    store: RemoteStore, workspace: Workspace, record: SnapshotRecord, remote: str
) -> None:
    """Manifest first (it is what makes a snapshot), then the artifact, then the row."""
    copy = record.copy_on(remote)
    if copy is None:
        return
    store.delete(copy.manifest_key)
    store.delete(copy.key)
    workspace.catalog.remove_remote_copy(record.id, remote)
