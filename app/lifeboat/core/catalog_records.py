"""The catalog's records: snapshots with their remote copies, job runs (plain data)."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from lifeboat.core.manifest import Manifest, iso_utc, parse_iso_utc
from lifeboat.foundation.states import JobStatus, SnapshotStatus

#: What an unproven copy is called wherever copies are listed.
NOT_PROVEN = "not proven yet"


@dataclass(frozen=True)
class RemoteCopy:
    """A snapshot's copy on a remote. It counts (for uploads, retention, status) only
    when `proven`: the server was shown to hold exactly these bytes (an upload proven
    byte-exact, a read-back with the right SHA-256, or the ETag a proven upload
    recorded). A copy adopted by a scan without such proof is not, until the next upload
    job proves it; `proof_failed` says why reading it back did not (it is then kept on
    the remote, not counted, and not read again until a rebuild finds it afresh)."""

    remote: str
    key: str
    manifest_key: str
    size: int
    sha256: str
    encrypted: bool
    uploaded_at: str
    proven: bool = True
    proof_failed: str | None = None

    @property
    def label(self) -> str:
        """The remote's name, with what is unproven about the copy."""
        return copy_label(self.remote, self.proven, self.proof_failed)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def copy_label(remote: str, proven: bool, proof_failed: str | None) -> str:
    """How a copy on `remote` is listed: its name, with what is unproven about it."""
    if proven:
        return remote
    if proof_failed:
        return f"{remote} (does not match its manifest)"
    return f"{remote} ({NOT_PROVEN})"


@dataclass(frozen=True)
class AttentionItem:
    """A file Lifeboat keeps but cannot use as it is: an artifact without a usable
    manifest, a manifest it cannot read or that a newer Lifeboat wrote. Never deleted by
    a scan; `lifeboat catalog rebuild` recovers what it can."""

    path: Path
    folder: Path
    source: str | None
    kind: str  # orphan | unreadable-manifest | newer-format | ...
    reason: str
    found_at: str

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "folder": str(self.folder),
            "source": self.source,
            "kind": self.kind,
            "reason": self.reason,
            "found_at": self.found_at,
        }


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload started on a remote and not yet completed or aborted."""

    upload_id: str
    remote: str
    key: str
    run: str | None
    started_at: str


@dataclass(frozen=True)
class SnapshotRecord:
    manifest: Manifest
    folder: Path
    status: SnapshotStatus
    status_detail: str | None
    verified_at: datetime | None
    copies: tuple[RemoteCopy, ...] = ()

    @property
    def local(self) -> bool:
        return self.status != "remote"

    def copy_on(self, remote: str) -> RemoteCopy | None:
        """The copy recorded on `remote`, proven or not."""
        return next((c for c in self.copies if c.remote == remote), None)

    def proven_copy_on(self, remote: str) -> RemoteCopy | None:
        """The copy on `remote` if it counts (proven byte-exact), else None."""
        copy = self.copy_on(remote)
        return copy if copy is not None and copy.proven else None

    @property
    def locations(self) -> list[str]:
        return (["local"] if self.local else []) + [c.label for c in self.copies]

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def source(self) -> str:
        return self.manifest.source

    @property
    def path(self) -> Path:
        """The artifact's file here (its .age file if it is kept encrypted)."""
        return self.folder / self.manifest.stored_name

    @property
    def manifest_path(self) -> Path:
        return self.folder / self.manifest.manifest_name

    def to_json(self) -> dict[str, object]:
        m = self.manifest
        return {
            "id": m.id,
            "source": m.source,
            "created_at": iso_utc(m.created_at),
            "kind": m.kind,
            "base": m.base,
            "db_sha256": m.db_sha256,
            "tables": m.tables,
            "path": str(self.path),
            "size": m.size,
            "db_size": m.db_size,
            "sha256": m.sha256,
            "protected": m.protected,
            "reason": m.reason,
            "status": self.status,
            "status_detail": self.status_detail,
            "verified_at": iso_utc(self.verified_at) if self.verified_at else None,
            "check": {"mode": m.check_mode, "result": m.check_result},
            "page_size": m.page_size,
            "page_count": m.page_count,
            "sqlite_version": m.sqlite_version,
            "format": m.format,
            "locations": self.locations,
            "remote_copies": [c.to_json() for c in self.copies],
        }


@dataclass(frozen=True)
class SnapshotLine:
    """A snapshot as `lifeboat snapshots` lists it: the few fields of its manifest the
    list shows, read by the catalog's SQL (catalog_listing.py) rather than by parsing
    every manifest (10,000 of them were most of the command's time)."""

    id: str
    source: str
    created_at: datetime
    kind: str  # full | diff | raw
    base: str | None
    size: int  # the artifact's, as its manifest records it
    db_size: int
    status: SnapshotStatus
    locations: tuple[str, ...]  # "local" if kept here, then each remote copy's label
    reason: str
    protected: bool
    partly_checked: bool  # its check could not check everything (the manifest says what)


@dataclass(frozen=True, slots=True)  # the status keeps 2,000 of them: no dict each
class JobRecord:
    id: int
    kind: str  # a JobKind's value (a newer Lifeboat may have more kinds)
    source: str | None
    trigger: str  # a Trigger's value
    status: JobStatus
    queued_at: str
    started_at: str | None
    finished_at: str | None
    attempt: int
    error: str | None
    snapshot_id: str | None
    detail: str | None
    pid: int | None
    cancel_requested: bool
    run: str | None = None

    def to_json(self) -> dict[str, object]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["detail"] = json.loads(self.detail) if self.detail else None
        return data


@dataclass(frozen=True)
class SourceSnapshots:
    """What `lifeboat status` shows of one source's snapshots, as the catalog counts and
    picks them without reading every manifest (catalog.source_snapshots)."""

    count: int = 0
    stored_bytes: int = 0  # the sizes their manifests record
    damaged: int = 0
    missing: int = 0
    #: The newest snapshot that is here and good and no raw copy.
    newest_usable: SnapshotRecord | None = None
    #: The newest of those taken for the reason asked (continuous protection's), newest
    #: first: catalog_snapshots.FOR_REASON_KEPT of them at most.
    for_reason: tuple[SnapshotRecord, ...] = ()
    #: remote -> how many of its copies of these snapshots are not proven yet
    unproven: dict[str, int] = field(default_factory=dict)
    #: How many are here and good and no raw copy (what could go to a remote) ...
    usable: int = 0
    #: ... and, per remote, how many of those have a proven copy there.
    proven: dict[str, int] = field(default_factory=dict)


def snapshot_record(row: sqlite3.Row, copies: tuple[RemoteCopy, ...] = ()) -> SnapshotRecord:
    manifest = Manifest.from_dict(json.loads(row["manifest"]))
    verified = row["verified_at"]
    return SnapshotRecord(
        manifest=manifest,
        folder=_folder(row["folder"]),
        status=SnapshotStatus(row["status"]),
        status_detail=row["status_detail"],
        verified_at=parse_iso_utc(verified) if verified else None,
        copies=copies,
    )


@functools.lru_cache(maxsize=256)
def _folder(text: str) -> Path:
    """One Path per snapshot folder (a source's snapshots share one), not one per
    record: making Paths was a tenth of reading 10,000 records."""
    return Path(text)


def copies_by_snapshot(
    db: sqlite3.Connection, source: str | None
) -> dict[str, tuple[RemoteCopy, ...]]:
    sql = (
        "select c.* from remote_copies c join snapshots s on s.id = c.snapshot_id"
        + (" where s.source=?" if source is not None else "")
        + " order by c.remote"
    )
    found: dict[str, list[RemoteCopy]] = {}
    for r in db.execute(sql, (source,) if source is not None else ()):
        found.setdefault(r["snapshot_id"], []).append(_remote_copy(r))
    return {k: tuple(v) for k, v in found.items()}


def copies_of(db: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[RemoteCopy, ...]]:
    """The remote copies of just these snapshots (by remote name, as above)."""
    found: dict[str, list[RemoteCopy]] = {}
    for start in range(0, len(ids), 500):  # SQLite's limit on a statement's parameters
        part = ids[start : start + 500]
        rows = db.execute(
            f"select * from remote_copies where snapshot_id in ({','.join('?' * len(part))})"
            " order by remote",
            part,
        )
        for r in rows:
            found.setdefault(r["snapshot_id"], []).append(_remote_copy(r))
    return {k: tuple(v) for k, v in found.items()}


def _remote_copy(r: sqlite3.Row) -> RemoteCopy:
    return RemoteCopy(
        r["remote"],
        r["key"],
        r["manifest_key"],
        r["size"],
        r["sha256"],
        bool(r["encrypted"]),
        r["uploaded_at"],
        bool(r["proven"]),
        r["proof_failed"],
    )


def job_record(row: sqlite3.Row) -> JobRecord:
    # zip, not a lookup by name per column, and the status from a table, not an enum
    # call: every status reads 2,000 job records (half of it went here).
    data = dict(zip(row.keys(), row, strict=True))
    # The few values most jobs share, once each (the tray keeps 2,000 records while idle).
    for name in _SHARED_JOB_TEXT:
        if data[name] is not None:
            data[name] = sys.intern(data[name])
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["status"] = _JOB_STATUSES.get(data["status"]) or JobStatus(data["status"])
    return JobRecord(**data)


_JOB_STATUSES = {status.value: status for status in JobStatus}
_SHARED_JOB_TEXT = ("kind", "source", "trigger", "run")
