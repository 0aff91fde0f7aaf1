"""What the service's operations return: plain data, shared by the jobs that make them
and the front ends that show them (no logic beyond describing themselves)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.retention import Decision, RetentionPolicy, freed_bytes
from lifeboat.foundation.errors import LifeboatError


@dataclass
class RebuildReport:
    snapshots: int = 0
    folders: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    #: snapshots whose manifest was recovered ("id: how")
    recovered: list[str] = field(default_factory=list)
    #: files kept but not usable as they are ("path: reason")
    attention: list[str] = field(default_factory=list)
    #: folders left as they were because a backup held them the whole time
    busy: list[str] = field(default_factory=list)
    remote_snapshots: dict[str, int] = field(default_factory=dict)
    remote_incomplete: list[str] = field(default_factory=list)
    remote_mismatched: list[str] = field(default_factory=list)  # "KEY (why)": not counted
    remote_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BackupOutcome:
    """What a backup and its follow-up did."""

    source: str
    status: str  # ok | skipped
    snapshot: SnapshotRecord | None  # the snapshot taken (None when skipped)
    message: str = ""  # why it was skipped, or that nothing changed
    pruned: PrunePlan | None = None
    prune_error: str | None = None
    uploaded: list[str] | None = None  # snapshot ids sent (None: no remote)
    uploaded_bytes: int = 0
    upload_error: LifeboatError | None = None
    #: The database held exactly what `snapshot` (an earlier one) holds: nothing stored.
    unchanged: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status,
            "unchanged": self.unchanged,
            "message": self.message,
            "snapshot": self.snapshot.to_json() if self.snapshot else None,
            "pruned": [d.snapshot.id for d in self.pruned.forgotten] if self.pruned else [],
            "prune_error": self.prune_error,
            "uploaded": self.uploaded,
            "upload_error": self.upload_error.message if self.upload_error else None,
        }


@dataclass(frozen=True)
class RemoteTest:
    remote: str
    endpoint: str
    bucket: str
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "ok": True,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class KeyInfo:
    recipients: list[str]  # what new artifacts are encrypted to
    local: list[str]  # recipients whose identity this machine's keyring holds
    keyring: str

    def to_json(self) -> dict[str, object]:
        return {
            "recipients": self.recipients,
            "identities_here_for": self.local,
            "identities_kept_in": self.keyring,
        }


@dataclass(frozen=True)
class DrillResult:
    source: str
    job_id: int | None
    passed: bool
    finished_at: str | None
    checks: list[DrillCheck]
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "job_id": self.job_id,
            "passed": self.passed,
            "finished_at": self.finished_at,
            "error": self.error,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class VerifyResult:
    record: SnapshotRecord
    ok: bool
    problem: str | None
    skipped: bool = False  # only remote copies: nothing local to check
    missing: bool = False  # a file it needs is not there (not proven damaged)
    base_only: bool = False  # its own file is intact; its base is what failed

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.record.id,
            "source": self.record.source,
            "ok": self.ok,
            "status": self.status,
            "problem": self.problem,
            "path": str(self.record.path),
        }

    @property
    def status(self) -> str:
        if self.skipped:
            return "remote"
        if self.ok:
            return "ok"
        if self.base_only:
            return "base-failed"
        return "missing" if self.missing else "corrupt"


@dataclass(frozen=True)
class RestoreOutcome:
    snapshot_id: str
    target: Path
    method: str
    seconds: float
    safety_snapshot: str | None
    #: a point of the continuous history was restored (snapshot_id is its chain's base)
    point: PointChoice | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "snapshot": self.snapshot_id,
            "target": str(self.target),
            "method": self.method,
            "seconds": round(self.seconds, 3),
            "safety_snapshot": self.safety_snapshot,
            "programs_must_reopen": self.method == "file-replace",
        }
        if self.point is not None:
            data["point"] = self.point.to_json()
        return data


@dataclass(frozen=True)
class PrunePlan:
    source: str
    policy: RetentionPolicy
    decisions: list[Decision]

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def forgotten(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    @property
    def freed(self) -> int:
        return freed_bytes(self.decisions)

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "policy": self.policy.spec,
            "keep": [{"id": d.snapshot.id, "reasons": list(d.reasons)} for d in self.kept],
            "forget": [{"id": d.snapshot.id, "reasons": list(d.reasons)} for d in self.forgotten],
            "freed_bytes": self.freed,
        }


@dataclass(frozen=True)
class DrillCheck:
    snapshot_id: str
    created_at: str
    copy: str  # "local" or the remote's name
    ok: bool
    problem: str | None
    seconds: float
    #: a point of the continuous history was drilled (PointChoice.to_json; snapshot_id
    #: is its chain's base)
    point: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class UploadResult:
    """What an upload sent to a source's remote, and what the remote's retention removed."""

    uploaded: list[str]  # snapshot ids
    deleted: list[str]
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {"uploaded": self.uploaded, "deleted": self.deleted, "bytes": self.bytes}


@dataclass(frozen=True)
class PointChoice:
    """The point of a source's continuous history that a moment means: the last commit
    at or before it, in the chain on base snapshot `base_id`."""

    source: str
    asked: datetime  # the moment asked for
    base_id: str
    commit_seq: int
    commit_time: datetime  # when that commit was captured
    flags: int  # the commit's flags (segment.py: merged, gap, thinned)
    #: no commit of a history stands for the moment (none yet, a rollback-journal
    #: database, a time before it): `base_id` is the last snapshot at or before it, taken
    #: at `commit_time`; `commit_seq` is 0
    snapshot_only: bool = False

    @property
    def before_asked(self) -> float:
        """How many seconds before the moment asked for the state chosen is."""
        return (self.asked - self.commit_time).total_seconds()

    def to_json(self) -> dict[str, object]:
        return {
            "snapshot_only": self.snapshot_only,
            "seconds_before": round(self.before_asked, 3),
            "source": self.source,
            "asked": self.asked.isoformat(),
            "base": self.base_id,
            "commit_seq": self.commit_seq,
            "commit_time": self.commit_time.isoformat(),
            "flags": self.flags,
        }


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a source's continuous history as its segment's index lists it
    (for choosing "just before it went wrong"): restoring it gives the database as it
    was right after it."""

    time_us: int  # when it was captured (UTC, microseconds since the epoch)
    pages_changed: int  # page images it wrote (a thinned or merged one: all it stands for)
    merged: bool  # a catch-up: commits the follower could not read one by one, merged
    after_gap: bool  # nothing was captured just before it (Lifeboat was not following)
