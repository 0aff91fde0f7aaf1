"""The service's snapshots: take (the backup pipeline), restore, prune, verify, pin,
delete and list them.

Part of the `Service` façade (facade.py mixes this in).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import AttentionItem, SnapshotLine, SnapshotRecord
from lifeboat.core.fsutil import FileLock
from lifeboat.core.manifest import utc_now, write_manifest
from lifeboat.core.retention import KeepSpecError, parse_keep
from lifeboat.core.workspace import FOLDER_LOCK_NAME, FOLDER_LOCK_PATIENCE
from lifeboat.foundation.errors import AlreadyRunning, ConfigError, LifeboatError, OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import Trigger

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import BackupOutcome, PrunePlan, RestoreOutcome, VerifyResult
    from lifeboat.service.deletion import DeletionEffects


if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.events import Event

log = logging.getLogger(__name__)


class SnapshotMethods:
    workspace: Workspace

    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    def backup(
        self,
        name: str,
        *,
        reason: str = "manual",
        protect: bool = False,
        full: bool = False,
        upload: bool = True,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> SnapshotRecord:
        """Take a snapshot now through the whole pipeline (prune, upload) and return it;
        see run_backup for what followed."""
        outcome = self.run_backup(
            name,
            reason=reason,
            protect=protect,
            full=full,
            upload=upload,
            progress=progress,
            cancel=cancel,
        )
        if outcome.snapshot is None:
            raise OperationFailed(f"no snapshot of {name} was taken: {outcome.message}")
        return outcome.snapshot

    def run_backup(
        self,
        name: str,
        *,
        reason: str = "manual",
        protect: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        skip_if_covered: bool = False,
        full: bool = False,
        job_id: int | None = None,
        attempt: int = 1,
        upload: bool = True,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> BackupOutcome:
        """A backup and what follows it (service/pipeline.py), whoever asks: the CLI, the
        tray, the scheduler. May be skipped if the period is already covered."""
        from lifeboat.service.pipeline import BackupRequest, run_backup_pipeline

        request = BackupRequest(
            name, reason, protect, trigger, skip_if_covered, full, job_id, attempt, upload
        )
        return run_backup_pipeline(
            self.workspace, self.publish, request, progress=progress, cancel=cancel
        )

    def restore(
        self,
        ref: str,
        *,
        to: Path | str | None = None,
        overwrite: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> RestoreOutcome:
        """Restore a snapshot to `to`, or in place over its source (safety snapshot first)."""
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.restore import RestoreJob

        record = self.snapshot(ref)
        job = RestoreJob(
            self.workspace, record, to=Path(to) if to is not None else None, overwrite=overwrite
        )
        outcome = run_job(
            job, self.workspace.catalog, progress=progress, cancel=cancel, on_event=self.publish
        )
        return outcome.result

    def export_snapshot(
        self,
        ref: str,
        to: Path | str,
        *,
        replace: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> RestoreOutcome:
        """Save a copy: the snapshot as a new standalone database at `to`, verified (a
        differential rebuilt on its base, a remote-only one downloaded), with its source's
        mode (0600 when unknown). Never over an existing file, unless `replace` (the
        command line's --yes)."""
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.export import ExportJob

        record = self.snapshot(ref)
        if replace:
            return self.restore(record.id, to=to, overwrite=True, progress=progress, cancel=cancel)
        job = ExportJob(self.workspace, record, to=Path(to))
        outcome = run_job(
            job, self.workspace.catalog, progress=progress, cancel=cancel, on_event=self.publish
        )
        return outcome.result

    def restore_target(self, ref: str, to: Path | str | None = None) -> Path:
        """Where a restore would write (checks the request, touches nothing)."""
        from lifeboat.jobs.restore import RestoreJob

        job = RestoreJob(
            self.workspace, self.snapshot(ref), to=Path(to) if to else None, overwrite=True
        )
        job.prepare()
        assert job.target is not None
        return job.target

    def prune(
        self, source: str, *, dry_run: bool = False, trigger: Trigger = Trigger.MANUAL
    ) -> PrunePlan:
        from lifeboat.jobs.base import run_job
        from lifeboat.service.history_retention import prune_job

        job = prune_job(self.workspace, source, dry_run=dry_run)
        outcome = run_job(job, self.workspace.catalog, trigger=trigger, on_event=self.publish)
        return outcome.result

    def retention_preview(self, source: str, keep: str) -> PrunePlan:
        """What a draft keep spec would keep and delete now (for the settings dialog)."""
        from lifeboat.jobs.prune import plan_prune
        from lifeboat.service.history_retention import history_bases

        try:
            policy = parse_keep(keep)
        except KeepSpecError as exc:
            raise ConfigError(str(exc), "fix the keep spec") from None
        needed = history_bases(self.workspace, source, time.time_ns() // 1000)
        local = [r for r in self.snapshots(source) if r.local]
        return plan_prune(local, source, policy, needed=needed)

    def set_protected(self, ref: str, protected: bool, reason: str | None = None) -> SnapshotRecord:
        """Pin (protect) or unpin a snapshot; the manifest on disk is updated first."""
        record = self.snapshot(ref)
        if record.manifest.kind == "raw" and not protected:
            raise LifeboatError(
                "raw safety copies stay protected", "delete it by hand if you are sure"
            )
        manifest = record.manifest.with_protection(protected, reason)
        write_manifest(record.folder, manifest, self.workspace.run)
        self.workspace.catalog.update_manifest(manifest)
        return self.snapshot(record.id)

    def snapshots(self, source: str | None = None, limit: int = -1) -> list[SnapshotRecord]:
        """Snapshots, newest first (the newest `limit` of them, if given)."""
        return self.workspace.catalog.snapshots(source, limit)

    def snapshot_lines(self, source: str | None = None) -> list[SnapshotLine]:
        """The snapshots as a list shows them (a few fields each), newest first: read
        without parsing every manifest, for lists of thousands."""
        return self.workspace.catalog.snapshot_lines(source)

    def snapshot(self, ref: str) -> SnapshotRecord:
        return self.workspace.catalog.snapshot(ref)

    def attention(self, source: str | None = None) -> list[AttentionItem]:
        """Files kept but not usable as they are (see core/scan.py), with the reason."""
        return self.workspace.catalog.attention(source)

    def verify(
        self,
        ref: str | None = None,
        *,
        source: str | None = None,
        check: str | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> list[VerifyResult]:
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.verify import VerifyJob

        records = [self.snapshot(ref)] if ref is not None else self.snapshots(source)
        if ref is not None:
            source = records[0].source
        job = VerifyJob(self.workspace, records, source=source, check=check)
        outcome = run_job(
            job, self.workspace.catalog, progress=progress, cancel=cancel, on_event=self.publish
        )
        return outcome.result

    def dependents(self, ref: str) -> list[SnapshotRecord]:
        """The differentials that need this snapshot as their base to be restored."""
        record = self.snapshot(ref)
        return [r for r in self.snapshots(record.source) if r.manifest.base == record.id]

    def deletion_effects(self, ref: str) -> DeletionEffects:
        """What deleting this snapshot here would do to the others (service/deletion.py)."""
        from lifeboat.service.deletion import deletion_effects

        record = self.snapshot(ref)
        source = self.workspace.config().sources.get(record.source)
        policy = source.local_policy if source is not None else None
        return deletion_effects(record, self.snapshots(record.source), policy, utc_now())

    def delete_snapshot(self, ref: str) -> SnapshotRecord:
        """Delete one snapshot by hand (the tray's History, `lifeboat delete`); unpin
        protected ones first. Its remote copies stay (then it is listed as remote only)."""
        from lifeboat.jobs.prune import delete_snapshot

        record = self.snapshot(ref)
        if record.manifest.protected:
            raise LifeboatError(
                f"snapshot {record.id} is protected ({record.manifest.reason})",
                "unpin it first if you really want to delete it",
            )
        lock = FileLock(record.folder / FOLDER_LOCK_NAME)
        if not lock.acquire_within(FOLDER_LOCK_PATIENCE):
            raise AlreadyRunning(
                f"a backup, prune or rebuild of {record.source} is still running",
                "delete the snapshot when it has finished",
            )
        try:
            delete_snapshot(self.workspace, record)
        finally:
            lock.release()
        log.info("deleted snapshot %s of %s by hand", record.id, record.source)
        return record
