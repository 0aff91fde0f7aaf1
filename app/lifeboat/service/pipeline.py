"""A backup and what follows it, in one place: copy → check → store → prune → upload.

The CLI's `lifeboat backup`, the tray's "Back up now" (also while a daemon schedules)
and the scheduler all run this one pipeline, so a snapshot is pruned and uploaded
whoever asked for it. Each step is a recorded job and publishes its events (the
notices); a failed prune or upload does not undo the snapshot: it is reported in the
outcome, and the scheduler retries the upload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lifeboat.core.results import BackupOutcome
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.events import EventSink
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import Trigger
from lifeboat.jobs.backup import BackupJob
from lifeboat.jobs.base import run_job
from lifeboat.jobs.prune import PruneJob
from lifeboat.jobs.upload import UploadJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupRequest:
    source: str
    reason: str = "manual"
    protect: bool = False
    trigger: Trigger = Trigger.MANUAL
    skip_if_covered: bool = False
    full: bool = False
    job_id: int | None = None  # a job the scheduler already recorded as queued
    attempt: int = 1
    upload: bool = True  # False: keep it here for now (the next upload sends it)


def run_backup_pipeline(
    workspace: Workspace,
    publish: EventSink,
    request: BackupRequest,
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> BackupOutcome:
    """Take a snapshot of `request.source`, then prune (unless the source opts out) and
    upload to its remote (if it has one). Raises the backup's own error; the prune's and
    the upload's are in the outcome."""
    cancel = cancel or CancelToken()
    job = BackupJob(
        workspace,
        request.source,
        reason=request.reason,
        protect=request.protect,
        skip_if_covered=request.skip_if_covered,
        full=request.full,
    )
    taken = run_job(
        job,
        workspace.catalog,
        trigger=request.trigger,
        attempt=request.attempt,
        job_id=request.job_id,
        progress=progress,
        cancel=cancel,
        on_event=publish,
    )
    if taken.status != "ok" or taken.snapshot_id is None:
        return BackupOutcome(request.source, taken.status, None, taken.message)
    snapshot = workspace.catalog.snapshot(taken.snapshot_id)
    src = workspace.config().source(request.source)
    pruned, prune_error = None, None
    if src.prune:
        try:
            outcome = run_job(
                PruneJob(workspace, request.source),
                workspace.catalog,
                trigger=Trigger.AFTER_BACKUP,
                on_event=publish,
            )
            pruned = outcome.result
        except LifeboatError as exc:
            prune_error = exc.message
            log.warning("pruning %s after its backup failed: %s", request.source, exc.message)
    if src.remote is None or not request.upload:
        return BackupOutcome(request.source, "ok", snapshot, pruned=pruned, prune_error=prune_error)
    try:
        sent = run_job(
            UploadJob(workspace, request.source),
            workspace.catalog,
            trigger=Trigger.AFTER_BACKUP,
            progress=progress,
            cancel=cancel,
            on_event=publish,
        )
    except LifeboatError as exc:
        return BackupOutcome(
            request.source,
            "ok",
            snapshot,
            pruned=pruned,
            prune_error=prune_error,
            uploaded=[],
            upload_error=exc,
        )
    return BackupOutcome(
        request.source,
        "ok",
        snapshot,
        pruned=pruned,
        prune_error=prune_error,
        uploaded=sent.result.uploaded,
        uploaded_bytes=sent.result.bytes,
    )
