"""PruneJob: apply a source's retention policy and delete what it forgets."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.fsutil import FileLock
from lifeboat.core.leftovers import delete_snapshot_files
from lifeboat.core.manifest import utc_now
from lifeboat.core.results import PrunePlan
from lifeboat.core.retention import (
    RetentionPolicy,
    apply_policy,
    snapshot_info,
)
from lifeboat.core.workspace import FOLDER_LOCK_NAME, FOLDER_LOCK_PATIENCE, Workspace
from lifeboat.foundation.errors import AlreadyRunning, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind
from lifeboat.jobs.base import JobOutcome

log = logging.getLogger(__name__)


def plan_prune(
    records: list[SnapshotRecord],
    source: str,
    policy: RetentionPolicy,
    now: datetime | None = None,
    needed: Mapping[str, str] | None = None,
) -> PrunePlan:
    """What the policy keeps and forgets; `needed` snapshots (id -> why) are kept too."""
    infos = [snapshot_info(r) for r in records]
    return PrunePlan(source, policy, apply_policy(infos, policy, now or utc_now(), needed=needed))


class PruneJob:
    kind = JobKind.PRUNE

    def __init__(
        self,
        workspace: Workspace,
        source: str,
        *,
        dry_run: bool = False,
        needed: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.workspace = workspace
        self.source = source
        self.dry_run = dry_run
        #: the snapshots something else needs (the continuous history's bases), asked
        #: under the folder's lock so that a base taken meanwhile is seen
        self.needed = needed

    def prepare(self) -> None:
        self.workspace.config().source(self.source)

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[PrunePlan]:
        config = self.workspace.config()
        src = config.source(self.source)
        folder = self.workspace.snapshot_folder(config, src)
        lock = FileLock(folder / FOLDER_LOCK_NAME)
        if not self.dry_run and not lock.acquire_within(FOLDER_LOCK_PATIENCE):
            raise AlreadyRunning(
                f"a backup, prune or rebuild of {self.source} is still running",
                "prune after it",
            )
        try:
            local = [r for r in self.workspace.catalog.snapshots(self.source) if r.local]
            needed = self.needed() if self.needed is not None else None
            plan = plan_prune(local, self.source, src.local_policy, needed=needed)
            if not self.dry_run:
                for decision in plan.forgotten:
                    cancel.check()
                    record = self.workspace.catalog.snapshot(decision.snapshot.id)
                    delete_snapshot(self.workspace, record)
                    log.info(
                        "pruned snapshot %s of %s: %s", record.id, self.source, decision.reason
                    )
        finally:
            lock.release()
        return JobOutcome(
            result=plan,
            detail={
                "forgotten": [d.snapshot.id for d in plan.forgotten],
                "freed_bytes": plan.freed,
                "dry_run": self.dry_run,
            },
        )


def delete_snapshot(workspace: Workspace, record: SnapshotRecord) -> None:
    """Delete a snapshot's files as the user decided (a policy or an explicit delete):
    the manifest becomes a tombstone first, so a deletion cut short is finished by the
    next sweep rather than leaving an artifact without a manifest (core/leftovers.py).

    A snapshot that still has remote copies keeps its row, marked as remote only.
    """
    try:
        delete_snapshot_files(record.folder, record.manifest)
    except OSError as exc:
        raise LifeboatError(
            f"cannot delete snapshot {record.id} in {record.folder}: {exc.strerror or exc}",
            "check the folder's permissions",
        ) from None
    with contextlib.suppress(LifeboatError):
        workspace.catalog.forget_local_files(record.id)
