"""Take a snapshot: live database -> consistent copy -> checked, compressed artifact.

Steps: probe the source, check free space, copy it online (dbcopy), then check the copy
(quick_check or integrity_check, plus row counts and a schema hash) in a thread while it
is packed: as a full snapshot (zstd, SHA-256 in the same pass, and the page-hash list a
later differential compares against), or, given a base, as a differential holding only
the pages that changed (falling back to a new full base when too much changed). Each
file is written under a temporary name, fsynced and renamed into place; the manifest
comes last (the commit point). A source may keep its artifacts encrypted with age: the
artifact is then sealed into <artifact>.age before the manifest is written. A crash at
any moment leaves either a whole snapshot with its manifest or files that no reader
takes for one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lifeboat import __version__
from lifeboat.core.compress import CompressResult, compress_blocks, compress_file
from lifeboat.core.dbcheck import CheckResult, check_database
from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.dbinspect import Inventory, take_inventory
from lifeboat.core.encryption import encrypt_file
from lifeboat.core.fsutil import ensure_dir, fsync_dir, publish, require_space
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    DIFF_SUFFIX,
    FULL_SUFFIX,
    LOCAL_ENCRYPTION,
    PAGES_SUFFIX,
    PARTIAL_SUFFIX,
    Manifest,
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
from lifeboat.core.pagehashes import sha256_file
from lifeboat.core.progress import CancelToken, Progress, no_progress
from lifeboat.core.sqlite_file import probe_database
from lifeboat.errors import OperationFailed, SourceError

_SPACE_MARGIN = 16 << 20


@dataclass(frozen=True)
class BaseRef:
    """The full snapshot a differential is taken against."""

    manifest: Manifest
    pages: Path  # its page-hash list, checked against manifest.pages_sha256


@dataclass(frozen=True)
class SnapshotRequest:
    source: str
    source_path: Path
    folder: Path  # <dest>/<source>
    temp_dir: Path
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


@dataclass(frozen=True)
class _Packed:
    kind: str
    artifact: Path
    result: CompressResult
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
    cancel = cancel or CancelToken()
    started = time.monotonic()
    info = probe_database(request.source_path)
    folder = ensure_dir(request.folder, "snapshot folder")
    temp_dir = ensure_dir(request.temp_dir, "temp folder")
    estimate = info.estimated_db_size
    require_space(temp_dir, estimate + _SPACE_MARGIN, "the temporary copy")
    ratio = min(max(request.expected_ratio, 0.05), 1.0) * 1.25
    require_space(folder, int(estimate * ratio) + _SPACE_MARGIN, "the snapshot")

    created_at = now or utc_now()
    snap_id = new_snapshot_id()
    stem = snapshot_stem(request.source, created_at, snap_id)
    copy_path = temp_dir / f"{stem}.copy.sqlite"
    written: list[Path] = []
    try:
        copied = copy_database(request.source_path, copy_path, settings=request.copy,
                               progress=progress, cancel=cancel)
        cancel.check()
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
            checking = pool.submit(_check_and_count, copy_path, request.check)
            packed = _pack(request, copy_path, copied.page_size, folder, stem, written,
                           progress, cancel)
            checked, inventory = checking.result()
        if not checked.ok:
            raise SourceError(
                f"{request.source_path} failed its integrity check ({checked.mode}): "
                f"{checked.summary}; no snapshot was stored",
                "the live database is damaged: restore it from an earlier snapshot",
            )
        cancel.check()
        extra: dict[str, object] = {"copy_strategy": copied.strategy}
        if packed.note:
            extra["rebased"] = packed.note
        if request.recipients:
            extra[LOCAL_ENCRYPTION] = _seal(packed, request.recipients, written)
        manifest = Manifest(
            id=snap_id,
            source=request.source,
            created_at=created_at,
            artifact=packed.artifact.name,  # the zstd name, also when kept sealed
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
        write_manifest(folder, manifest)
        written.clear()  # committed: these are the snapshot's now
        return manifest
    except OSError as exc:
        raise OperationFailed(f"snapshot of {request.source} failed: {exc}") from None
    finally:
        for leftover in (copy_path, *written):
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _seal(packed: _Packed, recipients: tuple[str, ...], written: list[Path]
          ) -> dict[str, object]:
    """Encrypt the published artifact into <artifact>.age beside it and delete the plain
    one; what is returned goes into the manifest (the manifest is still the commit
    point: until it is written, both files are leftovers)."""
    final = packed.artifact.with_name(packed.artifact.name + AGE_SUFFIX)
    partial = final.with_name(f".{final.name}{PARTIAL_SUFFIX}")
    written.append(partial)
    sealed = encrypt_file(packed.artifact, partial, list(recipients))
    if sealed.plain_sha256 != packed.result.sha256:
        raise OperationFailed(f"{packed.artifact} changed while it was being encrypted")
    publish(partial, final)
    written.append(final)
    os.unlink(packed.artifact)
    fsync_dir(final.parent)
    return {"scheme": "age", "recipients": list(recipients), "size": sealed.size,
            "sha256": sealed.sha256}


def _check_and_count(path: Path, mode: str) -> tuple[CheckResult, Inventory | None]:
    checked = check_database(path, mode)
    return checked, take_inventory(path) if checked.ok else None


def _pack(request: SnapshotRequest, copy: Path, page_size: int, folder: Path, stem: str,
          written: list[Path], progress: Progress, cancel: CancelToken) -> _Packed:
    """A differential against the request's base if it is worth it, else a full."""
    base = request.base
    note = None
    if base is not None:
        if base.manifest.page_size != page_size:
            note = "the page size changed"
        else:
            try:
                return _differential(request, copy, page_size, folder, stem, written,
                                     progress, cancel)
            except DiffTooLarge:
                note = "too much changed since the base"
    packed = _full(request, copy, page_size, folder, stem, written, progress, cancel)
    return _Packed(packed.kind, packed.artifact, packed.result, packed.db_sha256,
                   packed.pages_sha256, note)


def _full(request: SnapshotRequest, copy: Path, page_size: int, folder: Path, stem: str,
          written: list[Path], progress: Progress, cancel: CancelToken) -> _Packed:
    partial = folder / f".{stem}{FULL_SUFFIX}{PARTIAL_SUFFIX}"
    final = folder / f"{stem}{FULL_SUFFIX}"
    written.append(partial)
    hashes = None
    pages_partial = folder / f".{stem}{PAGES_SUFFIX}{PARTIAL_SUFFIX}"
    observer = None
    if request.hash_pages:
        written.append(pages_partial)
        hashes = open(pages_partial, "wb")  # noqa: SIM115 - closed below

        def observer(block: memoryview) -> None:
            hashes.write(page_hashes_of(block, page_size))  # type: ignore[union-attr]

    try:
        result = compress_file(copy, partial, level=request.level, progress=progress,
                               cancel=cancel, hash_plain=False, observer=observer)
        pages_sha = None
        if hashes is not None:
            hashes.flush()
            os.fsync(hashes.fileno())
            hashes.close()
            pages_sha = sha256_file(pages_partial)
            publish(pages_partial, folder / f"{stem}{PAGES_SUFFIX}")
            written.append(folder / f"{stem}{PAGES_SUFFIX}")
    finally:
        if hashes is not None and not hashes.closed:
            hashes.close()
    publish(partial, final)
    written.append(final)
    return _Packed("full", final, result, pages_sha256=pages_sha)


def _differential(request: SnapshotRequest, copy: Path, page_size: int, folder: Path,
                  stem: str, written: list[Path], progress: Progress,
                  cancel: CancelToken) -> _Packed:
    base = request.base
    assert base is not None
    if sha256_file(base.pages) != base.manifest.pages_sha256:
        raise OperationFailed(f"the page-hash list of base {base.manifest.id} is damaged")
    partial = folder / f".{stem}{DIFF_SUFFIX}{PARTIAL_SUFFIX}"
    final = folder / f"{stem}{DIFF_SUFFIX}"
    written.append(partial)
    page_count = copy.stat().st_size // page_size
    header = DiffHeader(page_size, page_count, base.manifest.id, base.manifest.sha256)
    scan = PageScan()
    # The differential may take at most rebase_ratio of the base's stored size; judge
    # it by the changed pages' plain size at the base's compression ratio.
    base_ratio = base.manifest.size / max(base.manifest.db_size, 1)
    limit = int(request.rebase_ratio * base.manifest.size / max(base_ratio, 0.01))
    result = compress_blocks(diff_stream(copy, page_size, base.pages, header, scan, limit,
                                         progress, cancel),
                             partial, size=None, level=request.level, cancel=cancel,
                             hash_plain=False)
    publish(partial, final)
    written.append(final)
    return _Packed("diff", final, result, db_sha256=scan.db_sha256)

