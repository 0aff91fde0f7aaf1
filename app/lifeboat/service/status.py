"""What state each source is in: for `lifeboat status`, the tray, metrics and alarms.

Computed from the config and the catalog alone, so any process can tell, whether or not
a scheduler runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from lifeboat.core.catalog_records import JobRecord, SnapshotRecord, SourceSnapshots
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.manifest import iso_utc, parse_iso_utc
from lifeboat.core.schedule import format_duration
from lifeboat.core.schedule_times import next_runs, resolve_timezone, stale_after
from lifeboat.core.scheduler_lock import SchedulerLock
from lifeboat.core.unchanged import latest, proven_unchanged_at, unchanged_since_id
from lifeboat.core.workspace import Workspace
from lifeboat.service.history import chains_of
from lifeboat.service.history_remote import remote_history_state
from lifeboat.service.history_status import ContinuousState, continuous_state
from lifeboat.service.overdue import is_overdue
from lifeboat.service.status_jobs import last_finished, pending_retry, running_and_retrying
from lifeboat.service.status_reads import StatusReads, read_for_status
from lifeboat.service.status_snapshots import (
    continuous_snapshots,
    snapshot_fields,
)

#: Events the capture thread records (service/continuous.py): failing; not compacting.
CAPTURE_STOPPED = "continuous:stopped"
HISTORY_NOT_COMPACTED = "continuous:not-compacted"

STATES = ("ok", "running", "warning", "error")


@dataclass(frozen=True)
class SourceStatus:
    name: str
    path: str
    schedule: str
    schedule_description: str
    next_run: datetime | None
    last_snapshot: datetime | None
    last_snapshot_id: str | None
    last_result: str  # never | ok | failed | cancelled | skipped | running
    last_error: str | None
    last_duration: float | None
    running: bool
    retry_pending: bool
    stale: bool
    stale_after: timedelta | None
    snapshots: int
    snapshot_bytes: int
    failures_total: int
    remote: str | None = None
    uploads_pending: int = 0
    #: Snapshots have waited more than a day for their upload (the remote is unreachable).
    remote_behind: bool = False
    #: A backup of it runs now (`running` is any job: an upload, a verify, a drill too).
    backing_up: bool = False
    #: The last finished restore drill: when, whether it passed, and what it restored.
    last_drill: datetime | None = None
    drill_passed: bool | None = None
    drill_detail: str | None = None
    #: Snapshots kept here that failed verification (proven damage), and ones whose file
    #: is gone: kept and listed until the user deletes them, never pruned.
    damaged: int = 0
    missing_files: int = 0
    #: Copies on its remote that do not count: not proven yet (the next upload proves
    #: them), or found not to match their manifest (kept there, shown in History).
    unproven_copies: int = 0
    #: The newest finished upload of this source: never | ok | failed, and its error.
    last_upload_result: str = "never"
    last_upload_error: str | None = None
    #: What a pending retry will try again (backup | upload), and about when.
    retry_kind: str | None = None
    retry_at: datetime | None = None
    #: The name a person sees: the display name ("My Notes"), or the name when none.
    title: str = ""

    #: Continuous protection (issue 20): on or off, the newest commit its history holds,
    #: in the newest chain the gaps (Lifeboat not running) and merged catch-ups, and why
    #: the capture keeps failing (None: it does not).
    continuous: bool = False
    last_capture: datetime | None = None
    gaps: int = 0
    merged: int = 0
    capture_stopped: str | None = None
    history_not_compacted: str | None = None  # why its sealed history waits (a key)
    #: How far its remote holds that history (the newest commit held, every one before
    #: it held too), and why sending it keeps failing (None: it does not).
    remote_history_until: datetime | None = None
    history_upload_failed: str | None = None
    #: a rollback-journal database: captured by differentials at most this often (s)
    continuous_every: float | None = None

    #: When a backup last found the database unchanged since its newest snapshot.
    proven_unchanged: datetime | None = None
    #: The newest finished backup found it unchanged since this snapshot (nothing stored).
    unchanged_since: str | None = None

    @property
    def last_backup(self) -> datetime | None:
        """When it was last backed up: its newest good snapshot, or a later backup that
        found the database unchanged (what "backed up … ago" and the overdue alarm go by)."""
        return latest(self.last_snapshot, self.proven_unchanged)

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)

    @property
    def continuous_state(self) -> ContinuousState:
        return ContinuousState(
            self.continuous,
            self.last_capture,
            self.gaps,
            self.merged,
            self.capture_stopped,
            self.continuous_every,
        )

    @property
    def state(self) -> str:
        if self.last_result == "failed":
            return "error"
        if (
            self.capture_stopped
            or self.history_upload_failed
            or self.stale
            or self.retry_pending
            or self.remote_behind
            or self.drill_passed is False
            or self.damaged
            or self.missing_files
        ):
            return "warning"
        return "running" if self.running else "ok"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "path": self.path,
            "state": self.state,
            "schedule": self.schedule,
            "schedule_description": self.schedule_description,
            "next_run": iso_utc(self.next_run) if self.next_run else None,
            "last_snapshot": iso_utc(self.last_snapshot) if self.last_snapshot else None,
            "last_snapshot_id": self.last_snapshot_id,
            "last_result": self.last_result,
            "last_error": self.last_error,
            "last_duration_s": self.last_duration,
            "running": self.running,
            "retry_pending": self.retry_pending,
            "stale": self.stale,
            "stale_after": format_duration(self.stale_after) if self.stale_after else None,
            "snapshots": self.snapshots,
            "snapshot_bytes": self.snapshot_bytes,
            "failures_total": self.failures_total,
            "remote": self.remote,
            "uploads_pending": self.uploads_pending,
            "remote_behind": self.remote_behind,
            "last_drill": iso_utc(self.last_drill) if self.last_drill else None,
            "drill_passed": self.drill_passed,
            "drill_detail": self.drill_detail,
            "damaged": self.damaged,
            "missing_files": self.missing_files,
            "unproven_copies": self.unproven_copies,
            "last_upload_result": self.last_upload_result,
            "last_upload_error": self.last_upload_error,
            "retry_kind": self.retry_kind,
            "retry_at": iso_utc(self.retry_at) if self.retry_at else None,
            "continuous": self.continuous,
            "last_capture": iso_utc(self.last_capture) if self.last_capture else None,
            "gaps": self.gaps,
            "merged": self.merged,
            "capture_stopped": self.capture_stopped,
            "remote_history_until": (
                iso_utc(self.remote_history_until) if self.remote_history_until else None
            ),
            "history_upload_failed": self.history_upload_failed,
            "continuous_every": self.continuous_every,
            "last_backup": iso_utc(self.last_backup) if self.last_backup else None,
            "unchanged_since": self.unchanged_since,
        }


@dataclass(frozen=True)
class Status:
    state: str
    sources: list[SourceStatus]
    scheduler_pid: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "scheduler_pid": self.scheduler_pid,
            "sources": [s.to_json() for s in self.sources],
        }


def compute_status(
    workspace: Workspace,
    now: datetime,
    tz: tzinfo | None = None,
    reads: StatusReads | None = None,
) -> Status:
    """Each source's status at `now`; `reads`: the catalog's part, if already read
    (service/status_reads.py keeps it while the catalog does not change)."""
    config = workspace.config()
    tz = tz or resolve_timezone(config.general.timezone)
    read = reads or read_for_status(workspace)
    sources = [
        _source_status(
            workspace, config, src, (read.jobs.get(src.name, []), read.facts, read.events), now, tz
        )
        for src in config.sources.values()
    ]
    ranks = [STATES.index(s.state) for s in sources]
    state = STATES[max(ranks)] if ranks else "ok"
    return Status(state, sources, SchedulerLock(workspace.paths).holder())


def _source_status(
    workspace: Workspace,
    config: Config,
    src: SourceConfig,
    read: tuple[list[JobRecord], dict[str, SourceSnapshots], dict[str, tuple[str, str]]],
    now: datetime,
    tz: tzinfo,
) -> SourceStatus:
    """`read`: what compute_status read of the catalog for all sources at once (this
    source's jobs, the snapshots' facts, the newest continuous events)."""
    jobs, facts, events = read
    schedule = src.backup_schedule
    mine = [j for j in jobs if j.source == src.name and j.kind == "backup"]
    running, backing_up, retry = running_and_retrying(workspace.paths.run_dir, jobs, src.name)
    retry_kind, retry_at = pending_retry(jobs, src.name, config) if retry else (None, None)
    upload = last_finished(jobs, src.name, "upload")
    remote = src.remote if src.remote in config.remotes else None
    known = facts.get(src.name, SourceSnapshots())
    snapshots, continuous = snapshot_fields(workspace, src, remote, known, now)
    drill = _last_drill(jobs, src.name)
    last_job = next((j for j in mine if j.status in ("ok", "failed", "cancelled")), None)
    limit = stale_after(schedule, src.stale_override)
    unchanged = _unchanged(mine, src.name, last_job)
    last_backup = latest(snapshots["last_snapshot"], unchanged["proven_unchanged"])
    upcoming = next_runs(schedule, tz, now, 1)
    return SourceStatus(
        name=src.name,
        title=src.title,
        path=str(src.path),
        schedule=schedule.spec,
        schedule_description=schedule.describe(),
        next_run=upcoming[0] if upcoming else None,
        last_result="running" if running else (last_job.status if last_job else "never"),
        last_error=last_job.error if last_job and last_job.status == "failed" else None,
        last_duration=_duration(last_job),
        running=running,
        backing_up=backing_up,
        retry_pending=retry,
        stale=is_overdue(workspace, config, src, jobs, last_backup, limit, now, tz),
        stale_after=limit,
        failures_total=sum(1 for j in mine if j.status == "failed"),
        remote=src.remote,
        last_drill=parse_iso_utc(drill.finished_at) if drill and drill.finished_at else None,
        drill_passed=(drill.status == "ok") if drill else None,
        drill_detail=_drill_detail(drill),
        last_upload_result=upload.status if upload else "never",
        last_upload_error=upload.error if upload and upload.status == "failed" else None,
        retry_kind=retry_kind,
        retry_at=retry_at,
        **snapshots,
        **_continuous(workspace, src, continuous, events.get(src.name)),
        **unchanged,
    )


def _unchanged(mine: list[JobRecord], source: str, last_job: JobRecord | None) -> dict[str, Any]:
    """When a backup last proved the database unchanged, and since which snapshot the
    newest finished one found it so (SourceStatus's fields)."""
    return {
        "proven_unchanged": proven_unchanged_at(mine, source),
        "unchanged_since": unchanged_since_id(last_job) if last_job else None,
    }


def _continuous(
    workspace: Workspace,
    src: SourceConfig,
    records: list[SnapshotRecord],
    last_event: tuple[str, str] | None,
) -> dict[str, Any]:
    """The source's continuous protection (SourceStatus's fields), from its history's
    files and its newest "continuous:" event (the capture records a stop there)."""
    event = last_event or (None, None)
    stopped = event[1] if event[0] == CAPTURE_STOPPED else None
    chains = chains_of(workspace, src.name)
    records = continuous_snapshots(workspace, src, records, {c.base_id for c in chains})
    state = continuous_state(src, chains, stopped, records)
    return {
        **remote_history_state(workspace, src, chains),
        "continuous": state.continuous,
        "last_capture": state.last_capture,
        "gaps": state.gaps,
        "merged": state.merged,
        "capture_stopped": state.stopped,
        "history_not_compacted": event[1] if event[0] == HISTORY_NOT_COMPACTED else None,
        "continuous_every": state.every_s,
    }


def _last_drill(jobs: list[JobRecord], source: str) -> JobRecord | None:
    """The last finished restore drill of `source` (jobs are newest first)."""
    drills = [
        j
        for j in jobs
        if j.source == source
        and j.kind == "drill"
        and j.status in ("ok", "failed")
        and j.finished_at
    ]
    return drills[0] if drills else None


def _duration(job: JobRecord | None) -> float | None:
    if job is None or not job.started_at or not job.finished_at:
        return None
    return (parse_iso_utc(job.finished_at) - parse_iso_utc(job.started_at)).total_seconds()


def _drill_detail(job: JobRecord | None) -> str | None:
    """What the drill restored ("remote copy offsite of 2026-…"), or why it failed."""
    if job is None:
        return None
    if job.status == "failed":
        return job.error
    checks = json.loads(job.detail).get("checks", []) if job.detail else []
    return (
        ", ".join(
            f"{'local' if c['copy'] == 'local' else 'remote'} copy"
            f"{'' if c['copy'] == 'local' else ' ' + c['copy']} of {c['created_at']}"
            for c in checks
        )
        or None
    )
