"""Take a snapshot: live database -> consistent copy -> checked, compressed artifact.

Steps: probe the source, check free space, copy it online (dbcopy) into the run's private
scratch folder, then check the copy (quick_check or integrity_check, plus row counts and
a schema hash) in a thread while it is packed: as a full snapshot (zstd, SHA-256 in the
same pass, and the page-hash list a later differential compares against), or, given a
base, as a differential holding only the pages that changed (falling back to a new full
base when too much changed). Every page's xxh3 hash feeds a content digest: a copy whose
digest equals `unchanged_since`'s is not stored again (`Unchanged`).

Files are written as work files of the run (core/runs.py: unique, exclusive, 0600),
fsynced and renamed into place; the manifest comes last (the commit point). A source may
keep its artifacts encrypted with age: the plain artifact is then written in the scratch
folder only and sealed into the snapshot folder, so no plaintext ever sits there. A crash
at any moment leaves either a whole snapshot with its manifest or work files of an ended
run, which the next sweep removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lifeboat import __version__
from lifeboat.core.compress import CompressResult, compress_blocks, compress_file
from lifeboat.core.dbcheck import UNCHECKED_KEY, CheckResult, check_database
from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.dbinspect import Inventory, take_inventory
from lifeboat.core.encryption import encrypt_file
from lifeboat.core.fsutil import free_bytes, publish, require_space
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    DIFF_SUFFIX,
    FULL_SUFFIX,
    LOCAL_ENCRYPTION,
    PAGES_SUFFIX,
    Manifest,
    Sealed,
    new_snapshot_id,
    snapshot_stem,
    utc_now,
    write_manifest,
)
from lifeboat.core.pagediff import (
    DiffHeader,
    DiffTooLarge,
    PageScan,
    diff_stream,
    page_hashes_of,
)
from lifeboat.core.private import disk_full, is_link, open_new
from lifeboat.core.runs import Run
from lifeboat.core.sqlite_file import RESTORE_HINT, probe_database
from lifeboat.foundation.errors import OperationFailed, SourceError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_SPACE_MARGIN = 16 << 20
CONTENT_DIGEST = "content_digest"  # manifest key, see docs/FORMAT.md


@dataclass(frozen=True)
class BaseRef:
    """The full snapshot a differential is taken against."""

    manifest: Manifest
    pages: Path  # its page-hash list, checked against manifest.pages_sha256


@dataclass(frozen=True)
class SnapshotRequest:
    source: str
    source_path: Path
    folder: Path  # <dest>/<source>, a private folder the caller made
    run: Run  # names the work files; its scratch folder holds the copy
    scratch: Path
    check: str = "quick"
    level: int = 3
    reason: str = "manual"
    protected: bool = False
    copy: CopySettings = field(default_factory=CopySettings)
    #: compressed/plain ratio expected from earlier snapshots (1.0: assume the worst)
    expected_ratio: float = 1.0
    #: keep a page-hash list beside a full snapshot, so later ones can be differentials
    hash_pages: bool = True
    base: BaseRef | None = None
    #: a differential may store at most this share of its base's size
    rebase_ratio: float = 0.5
    #: age recipients: keep the artifact on this machine encrypted to all of them
    recipients: tuple[str, ...] = ()
    #: the newest snapshot: a copy with the same content is not stored again
    unchanged_since: Manifest | None = None


class Unchanged(Exception):
    """The database holds exactly what `manifest`'s snapshot holds: nothing was stored."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(f"unchanged since snapshot {manifest.id}")
        self.manifest = manifest


@dataclass
class _Packed:
    kind: str
    result: CompressResult
    content_digest: str
    artifact: Path  # the work file holding it (in the folder, or scratch when sealing)
    pages: Path | None = None  # the work file of its page-hash list
    db_sha256: str | None = None
    pages_sha256: str | None = None
    note: str | None = None


def take_snapshot(
    request: SnapshotRequest,
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Take one snapshot; raises Unchanged (storing nothing) when the database's content
    equals `request.unchanged_since`'s."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    if is_link(request.source_path):
        raise SourceError(
            f"{request.source_path} is a symbolic link now; Lifeboat does not follow it",
            "if the database moved, add its real path as a source",
        )
    info = probe_database(request.source_path)
    source_mode = _mode_of(request.source_path)
    estimate = info.estimated_db_size
    require_space(request.scratch, estimate + _SPACE_MARGIN, "the temporary copy")
    ratio = min(max(request.expected_ratio, 0.05), 1.0) * 1.25
    require_space(request.folder, int(estimate * ratio) + _SPACE_MARGIN, "the snapshot")

    created_at = now or utc_now()
    snap_id = new_snapshot_id()
    stem = snapshot_stem(request.source, created_at, snap_id)
    copy_path = request.run.work_path(request.scratch, "copy")
    written: list[Path] = []  # everything of this snapshot, removed unless it commits
    try:
        copied = copy_database(
            request.source_path, copy_path, settings=request.copy, progress=progress, cancel=cancel
        )
        cancel.check()
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
            checking = pool.submit(_check_and_count, copy_path, request.check)
            packed = _pack(request, copy_path, copied.page_size, written, progress, cancel)
            checked, inventory = checking.result()
        if not checked.ok:
            raise SourceError(
                f"{request.source_path} fails SQLite's integrity check ({checked.mode}): "
                f"{checked.summary}; no snapshot was stored",
                RESTORE_HINT,
            )
        cancel.check()
        previous = request.unchanged_since
        if (
            previous is not None
            and previous.extra.get(CONTENT_DIGEST) == packed.content_digest
            and previous.page_count == copied.page_count
        ):
            raise Unchanged(previous)
        artifact_name = stem + (FULL_SUFFIX if packed.kind == "full" else DIFF_SUFFIX)
        extra: dict[str, object] = {
            "copy_strategy": copied.strategy,
            CONTENT_DIGEST: packed.content_digest,
        }
        if source_mode is not None:
            extra["source_mode"] = source_mode
        if checked.unchecked:
            extra[UNCHECKED_KEY] = list(checked.unchecked)
        if packed.note:
            extra["rebased"] = packed.note
        if request.recipients:
            extra[LOCAL_ENCRYPTION] = _seal(request, packed, artifact_name, written).to_json()
        else:
            written.append(request.folder / artifact_name)
            publish(packed.artifact, request.folder / artifact_name)
        if packed.pages is not None:
            written.append(request.folder / f"{stem}{PAGES_SUFFIX}")
            publish(packed.pages, request.folder / f"{stem}{PAGES_SUFFIX}")
        manifest = Manifest(
            id=snap_id,
            source=request.source,
            created_at=created_at,
            artifact=artifact_name,  # the zstd name, also when kept sealed
            size=packed.result.size,
            sha256=packed.result.sha256,
            db_size=copied.db_size,
            page_size=copied.page_size,
            page_count=copied.page_count,
            check_mode=checked.mode,
            check_result=checked.summary,
            sqlite_version=sqlite3.sqlite_version,
            reason=request.reason,
            protected=request.protected,
            source_path=str(request.source_path),
            journal_mode="wal" if copied.wal_source else "rollback",
            compression=f"zstd-{request.level}",
            lifeboat_version=__version__,
            duration_s=round(time.monotonic() - started, 3),
            kind=packed.kind,
            base=request.base.manifest.id if packed.kind == "diff" and request.base else None,
            db_sha256=packed.db_sha256,
            pages_sha256=packed.pages_sha256,
            tables=inventory.tables if inventory else None,
            schema_sha256=inventory.schema_sha256 if inventory else None,
            extra=extra,
        )
        write_manifest(request.folder, manifest, request.run)
        written.clear()  # committed: these are the snapshot's now
        return manifest
    except OSError as exc:
        if disk_full(exc):
            # A write does not say which file it was: the fuller of the two places it is.
            where = min((request.scratch, request.folder), key=free_bytes)
            raise OperationFailed(
                f"the disk holding {where} is full; no snapshot of {request.source} was stored",
                "free some space there, then retry",
            ) from None
        raise OperationFailed(f"snapshot of {request.source} failed: {exc}") from None
    finally:
        # This run's own work, never committed (no manifest names it): safe to remove.
        for leftover in (copy_path, *written):
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _seal(
    request: SnapshotRequest, packed: _Packed, artifact_name: str, written: list[Path]
) -> Sealed:
    """Encrypt the plain artifact (a work file in the scratch folder) into
    <artifact>.age in the snapshot folder; what is returned goes into the manifest."""
    partial = request.run.work_path(request.folder, "age")
    written.append(partial)
    sealed = encrypt_file(packed.artifact, partial, list(request.recipients))
    if sealed.plain_sha256 != packed.result.sha256:
        raise OperationFailed(
            f"the snapshot of {request.source} changed while it was being encrypted"
        )
    final = request.folder / (artifact_name + AGE_SUFFIX)
    written.append(final)
    publish(partial, final)
    os.unlink(packed.artifact)
    return Sealed(tuple(request.recipients), sealed.size, sealed.sha256)


def _check_and_count(path: Path, mode: str) -> tuple[CheckResult, Inventory | None]:
    checked = check_database(path, mode)
    return checked, take_inventory(path) if checked.ok else None


def _pack(
    request: SnapshotRequest,
    copy: Path,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> _Packed:
    """A differential against the request's base if it is worth it, else a full."""
    base = request.base
    note = None
    if base is not None:
        if base.manifest.page_size != page_size:
            note = "the page size changed"
        else:
            try:
                return _differential(request, copy, page_size, written, progress, cancel)
            except DiffTooLarge:
                note = "too much changed since the base"
    packed = _full(request, copy, page_size, written, progress, cancel)
    packed.note = note
    return packed


def _artifact_work_path(request: SnapshotRequest, kind: str) -> Path:
    # A plain artifact that is to be sealed never enters the snapshot folder.
    folder = request.scratch if request.recipients else request.folder
    return request.run.work_path(folder, kind)


def _full(
    request: SnapshotRequest,
    copy: Path,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> _Packed:
    partial = _artifact_work_path(request, "sqlite.zst")
    written.append(partial)
    digest = hashlib.sha256()  # of the page hashes: the content digest
    pages_partial = request.run.work_path(request.folder, "pages") if request.hash_pages else None
    hashes = None
    if pages_partial is not None:
        written.append(pages_partial)
        hashes = open_new(pages_partial)

    def observer(block: memoryview) -> None:
        listed = page_hashes_of(block, page_size)
        digest.update(listed)
        if hashes is not None:
            hashes.write(listed)

    try:
        result = compress_file(
            copy,
            partial,
            level=request.level,
            progress=progress,
            cancel=cancel,
            hash_plain=False,
            observer=observer,
        )
        pages_sha = None
        if hashes is not None and pages_partial is not None:
            hashes.flush()
            os.fsync(hashes.fileno())
            hashes.close()
            pages_sha = sha256_file(pages_partial)
    finally:
        if hashes is not None and not hashes.closed:
            hashes.close()
    return _Packed(
        "full", result, digest.hexdigest(), partial, pages_partial, pages_sha256=pages_sha
    )


def _differential(
    request: SnapshotRequest,
    copy: Path,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> _Packed:
    base = request.base
    assert base is not None
    if sha256_file(base.pages) != base.manifest.pages_sha256:
        raise OperationFailed(
            f"the page-hash list of base {base.manifest.id} does not match its manifest"
        )
    partial = _artifact_work_path(request, "diff.zst")
    written.append(partial)
    page_count = copy.stat().st_size // page_size
    header = DiffHeader(page_size, page_count, base.manifest.id, base.manifest.sha256)
    scan = PageScan()
    # The differential may take at most rebase_ratio of the base's stored size; judge
    # it by the changed pages' plain size at the base's compression ratio.
    base_ratio = base.manifest.size / max(base.manifest.db_size, 1)
    limit = int(request.rebase_ratio * base.manifest.size / max(base_ratio, 0.01))
    result = compress_blocks(
        diff_stream(copy, page_size, base.pages, header, scan, limit, progress, cancel),
        partial,
        size=None,
        level=request.level,
        cancel=cancel,
        hash_plain=False,
    )
    return _Packed("diff", result, scan.content_digest, partial, db_sha256=scan.db_sha256)


def _mode_of(path: Path) -> int | None:
    """The live database's permission bits (a restore to a new file gives it these)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o666
    except OSError:
        return None
