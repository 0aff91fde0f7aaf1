"""The words every layer shares for what a thing is or how it stands, as enums.

They are `StrEnum`s: each member equals its value ("ok", "backup", ...), so the catalog,
the JSON output and the webhook keep the same strings, and a comparison with a plain
string still holds.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    BACKUP = "backup"
    RESTORE = "restore"
    VERIFY = "verify"
    PRUNE = "prune"
    UPLOAD = "upload"
    DRILL = "drill"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # it ran and found a problem, or could not finish
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # nothing to do (the period is covered, a retry not needed)
    INTERRUPTED = "interrupted"  # the process running it ended before it did

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    CATCH_UP = "catch-up"  # a run missed while Lifeboat was not running
    RETRY = "retry"
    AFTER_BACKUP = "after-backup"  # the pipeline's prune and upload
    CONTINUOUS = "continuous"  # a base the continuous capture needed


class SnapshotKind(StrEnum):
    FULL = "full"
    DIFF = "diff"  # the pages that differ from a full base
    RAW = "raw"  # a byte copy of a database SQLite could not read


class SnapshotStatus(StrEnum):
    """Of the copy kept here."""

    OK = "ok"
    CORRUPT = "corrupt"  # proven damaged
    MISSING = "missing"  # its file is gone
    REMOTE = "remote"  # deleted here on purpose; remote copies remain


class Health(StrEnum):
    """A source's problem as notices report it (RECOVERED: it has none any more)."""

    DAMAGED = "damaged"  # the live database is damaged (SQLite proved it)
    FAILED = "failed"
    STALE = "stale"
    REMOTE_UNREACHABLE = "remote-unreachable"
    DRILL_FAILED = "drill-failed"
    CAPTURE_STOPPED = "capture-stopped"  # continuous capture keeps failing
    RECOVERED = "recovered"


class SourceState(StrEnum):
    """A source's state in the status, worst last."""

    OK = "ok"
    RUNNING = "running"
    WARNING = "warning"
    ERROR = "error"
