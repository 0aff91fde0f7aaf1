"""The service's records: settings, job history, events, status, and the few writes the
front ends and the scheduler need, so that none of them reaches into the workspace.

Part of the `Service` façade (facade.py mixes this in).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import JobRecord, SnapshotRecord
from lifeboat.core.config_model import Config
from lifeboat.core.fsutil import atomic_write_bytes
from lifeboat.core.manifest import utc_now
from lifeboat.core.private import private_dir, user_dir
from lifeboat.core.scheduler_lock import SchedulerLock
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.foundation.states import JobKind, JobStatus, Trigger
from lifeboat.remote.plans import plan_uploads

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.service.status import Status
    from lifeboat.service.status_reads import StatusReadsKept

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace


class RecordMethods:
    workspace: Workspace
    #: The catalog's part of the status, kept while the catalog does not change.
    status_reads: StatusReadsKept

    # -- settings and paths ----------------------------------------------------------

    @property
    def paths(self) -> LifeboatPaths:
        """Where this installation keeps its files (for a log path, a lock, a socket)."""
        return self.workspace.paths

    def scheduler_lock(self) -> SchedulerLock:
        """The lock of the one process (daemon or tray) that schedules this config."""
        return SchedulerLock(self.workspace.paths)

    def config(self) -> Config:
        """The settings as they are in the file now (another process may change them)."""
        return self.workspace.config()

    def settings_fingerprint(self) -> tuple[int, int] | None:
        """Changes whenever the settings file does (to reload it only then)."""
        try:
            info = self.workspace.paths.config_file.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def write_file(self, path: Path, data: bytes) -> None:
        """Write a small file of the user's or a front end's (metrics, preferences)
        atomically and privately, through this run's work file. In Lifeboat's own settings
        folder that folder is held to its rules (0700, ours, never a link)."""
        folder = Path(path).parent
        if folder == self.workspace.paths.config_file.parent:
            private_dir(folder, "settings folder")
        else:
            user_dir(folder, "folder")
        atomic_write_bytes(Path(path), data, self.workspace.run)

    # -- jobs ------------------------------------------------------------------------

    def jobs(self, limit: int = 50, source: str | None = None) -> list[JobRecord]:
        """The job history, newest first."""
        if limit < 1:
            raise LifeboatError("the number of jobs to show must be at least 1", "e.g. 50")
        return self.workspace.catalog.jobs(limit=limit, source=source)

    def job(self, job_id: int) -> JobRecord:
        return self.workspace.catalog.job(job_id)

    def cancel_job(self, job_id: int) -> JobRecord:
        """Ask a queued or running job to stop, whichever process runs it (it sees the
        request within a second and is recorded as cancelled)."""
        job = self.workspace.catalog.job(job_id)
        if job.status not in ("queued", "running"):
            raise LifeboatError(
                f"job {job.id} is not queued or running (it is {job.status})",
                "see `lifeboat jobs`",
            )
        self.workspace.catalog.request_cancel(job.id)
        return job

    def cancel_requested(self, job_id: int) -> bool:
        return self.workspace.catalog.job(job_id).cancel_requested

    def record_queued_job(
        self, kind: JobKind, source: str | None, trigger: Trigger, attempt: int = 1
    ) -> int:
        """A job waiting its turn (the scheduler's queue and retries)."""
        return self.workspace.catalog.start_job(
            kind, source, trigger, attempt, status=JobStatus.QUEUED
        )

    def record_job_end(self, job_id: int, status: JobStatus, error: str | None = None) -> None:
        """The end of a job that never ran (cancelled or skipped while waiting)."""
        self.workspace.catalog.finish_job(job_id, status, error=error)

    # -- events and status -----------------------------------------------------------

    def events(self, limit: int = 100) -> list[dict[str, object]]:
        return self.workspace.catalog.events(limit)

    def add_event(
        self, level: str, message: str, source: str | None = None, kind: str | None = None
    ) -> None:
        self.workspace.catalog.add_event(level, message, source, kind=kind)

    def last_event_kind(self, source: str, prefix: str) -> str | None:
        return self.workspace.catalog.last_event_kind(source, prefix)

    def status(self, now: datetime | None = None, tz: tzinfo | None = None) -> Status:
        """Each source's state, computed from the settings and the catalog alone."""
        from lifeboat.service.status import compute_status

        reads = self.status_reads.reads(self.workspace)
        return compute_status(self.workspace, now or utc_now(), tz, reads)

    def last_good_snapshot(self, source: str) -> datetime | None:
        """When `source` was last backed up for its schedule: its newest good snapshot taken
        on schedule, by catch-up or by hand, or a later backup that found the database
        unchanged since it. A safety copy before a restore or a snapshot taken for a reason
        of the user's own does not count: it was taken before a change."""
        from lifeboat.jobs.last_backup import COVERING_REASONS, last_backed_up

        return last_backed_up(self.workspace, source, reasons=COVERING_REASONS)

    def pending_uploads(self, source: str, now: datetime | None = None) -> list[SnapshotRecord]:
        """The snapshots of `source` its remote should have and does not yet."""
        config = self.workspace.config()
        src = config.source(source)
        if src.remote is None or src.remote not in config.remotes:
            return []
        return plan_uploads(
            self.workspace.catalog.snapshots(source),
            src.remote,
            src.remote_policy,
            now or utc_now(),
        )
