"""A backup and what follows it, in one place: copy → check → store → prune → upload.

The CLI's `lifeboat backup`, the tray's "Back up now" (also while a daemon schedules)
and the scheduler all run this one pipeline, so a snapshot is pruned and uploaded
whoever asked for it. Each step is a recorded job and publishes its events (the
notices); a failed prune or upload does not undo the snapshot: it is reported in the
outcome, and the scheduler retries the upload.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lifeboat.core.manifest import Manifest, utc_now
from lifeboat.core.unchanged import UNCHANGED_KEY
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.events import EventSink
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import Trigger
from lifeboat.jobs.backup import BackupJob
from lifeboat.jobs.base import JobOutcome, run_job
from lifeboat.jobs.upload import UploadJob
from lifeboat.remote.plans import plan_uploads
from lifeboat.service.history_retention import prune_job, thin_history

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import BackupOutcome, PrunePlan


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
    from lifeboat.core.results import BackupOutcome

    cancel = cancel or CancelToken()
    taken = _take_snapshot(workspace, publish, request, progress, cancel)
    same = (taken.detail or {}).get(UNCHANGED_KEY) if taken.status == "ok" else None
    if isinstance(same, str):
        return _after_unchanged(workspace, publish, request, same, taken.message, cancel)
    if taken.status != "ok" or taken.snapshot_id is None:
        return BackupOutcome(request.source, taken.status, None, taken.message)
    snapshot = workspace.catalog.snapshot(taken.snapshot_id)
    src = workspace.config().source(request.source)
    pruned, prune_error = None, None
    if src.prune:
        pruned, prune_error = _prune_after_backup(workspace, publish, request.source)
        _thin_history(workspace, request.source)
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


def _after_unchanged(
    workspace: Workspace,
    publish: EventSink,
    request: BackupRequest,
    snapshot_id: str,
    message: str,
    cancel: CancelToken,
) -> BackupOutcome:
    """A backup that found the database unchanged since snapshot `snapshot_id` stored
    nothing: there is nothing new to prune for (the policy applies again with the next
    snapshot), and an upload runs only if a snapshot still waits for one (an earlier
    upload failed), so the existing snapshot reaches the remote all the same."""
    from lifeboat.core.results import BackupOutcome

    existing = workspace.catalog.snapshot(snapshot_id)
    unchanged = BackupOutcome(request.source, "ok", existing, message, unchanged=True)
    src = workspace.config().source(request.source)
    remote = workspace.config().remotes.get(src.remote) if src.remote else None
    if remote is None or not request.upload:
        return unchanged
    records = workspace.catalog.snapshots(request.source)
    if not plan_uploads(records, remote.name, src.remote_policy, utc_now()):
        return replace(unchanged, uploaded=[])
    try:
        sent = run_job(
            UploadJob(workspace, request.source),
            workspace.catalog,
            trigger=Trigger.AFTER_BACKUP,
            cancel=cancel,
            on_event=publish,
        )
    except LifeboatError as exc:
        return replace(unchanged, uploaded=[], upload_error=exc)
    return replace(unchanged, uploaded=sent.result.uploaded, uploaded_bytes=sent.result.bytes)


def _take_snapshot(
    workspace: Workspace,
    publish: EventSink,
    request: BackupRequest,
    progress: Progress,
    cancel: CancelToken,
) -> JobOutcome[Manifest | None]:
    """The backup job itself (recorded; its error is raised)."""
    job = BackupJob(
        workspace,
        request.source,
        reason=request.reason,
        protect=request.protect,
        skip_if_covered=request.skip_if_covered,
        full=request.full,
    )
    return run_job(
        job,
        workspace.catalog,
        trigger=request.trigger,
        attempt=request.attempt,
        job_id=request.job_id,
        progress=progress,
        cancel=cancel,
        on_event=publish,
    )


def _thin_history(workspace: Workspace, source: str) -> None:
    """Thin the source's continuous history by its `continuous_keep` (after the prune:
    this is the one place). A failure is logged; the backup stands."""
    try:
        report = thin_history(workspace, source, time.time_ns() // 1000)
    except (LifeboatError, OSError, ValueError) as exc:
        log.warning("thinning the history of %s failed: %s", source, getattr(exc, "message", exc))
        return
    if report.commits_before != report.commits_after or report.chains_removed:
        log.info(
            "%s: history thinned from %d to %d points; %d old chain(s) removed",
            source,
            report.commits_before,
            report.commits_after,
            len(report.chains_removed),
        )


def _prune_after_backup(
    workspace: Workspace, publish: EventSink, source: str
) -> tuple[PrunePlan | None, str | None]:
    """Prune the source's snapshots: (what was pruned, None), or (None, why it failed)."""
    try:
        outcome = run_job(
            prune_job(workspace, source),
            workspace.catalog,
            trigger=Trigger.AFTER_BACKUP,
            on_event=publish,
        )
        return outcome.result, None
    except LifeboatError as exc:
        log.warning("pruning %s after its backup failed: %s", source, exc.message)
        return None, exc.message
