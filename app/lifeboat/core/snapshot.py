"""Take a snapshot: live database -> consistent copy -> checked, compressed artifact.

Steps: probe the source, check free space, copy it online (dbcopy), then check the copy
(quick_check or integrity_check) in a thread while it is compressed with SHA-256 in the
same pass. The artifact is written under a temporary name, fsynced, renamed into place,
and only then is its manifest written (the commit point). A crash at any moment leaves
either a whole snapshot with its manifest or files that no reader takes for one.
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
from lifeboat.core.compress import compress_file
from lifeboat.core.dbcheck import check_database
from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.fsutil import ensure_dir, publish, require_space
from lifeboat.core.manifest import (
    FULL_SUFFIX,
    PARTIAL_SUFFIX,
    Manifest,
    new_snapshot_id,
    snapshot_stem,
    utc_now,
    write_manifest,
)
from lifeboat.core.progress import CancelToken, Progress, no_progress
from lifeboat.core.sqlite_file import probe_database
from lifeboat.errors import OperationFailed, SourceError

_SPACE_MARGIN = 16 << 20


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
    partial = folder / f".{stem}{FULL_SUFFIX}{PARTIAL_SUFFIX}"
    final = folder / f"{stem}{FULL_SUFFIX}"
    try:
        copied = copy_database(request.source_path, copy_path, settings=request.copy,
                               progress=progress, cancel=cancel)
        cancel.check()
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
            checking = pool.submit(check_database, copy_path, request.check)
            packed = compress_file(copy_path, partial, level=request.level,
                                   progress=progress, cancel=cancel, hash_plain=False)
            checked = checking.result()
        if not checked.ok:
            raise SourceError(
                f"{request.source_path} failed its integrity check ({checked.mode}): "
                f"{checked.summary}; no snapshot was stored",
                "the live database is damaged: restore it from an earlier snapshot",
            )
        cancel.check()
        publish(partial, final)
        manifest = Manifest(
            id=snap_id,
            source=request.source,
            created_at=created_at,
            artifact=final.name,
            size=packed.size,
            sha256=packed.sha256,
            db_size=packed.plain_size,
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
            extra={"copy_strategy": copied.strategy},
        )
        try:
            write_manifest(folder, manifest)
        except BaseException:
            with contextlib.suppress(OSError):
                final.unlink()
            raise
        return manifest
    except OSError as exc:
        raise OperationFailed(f"snapshot of {request.source} failed: {exc}") from None
    finally:
        for leftover in (copy_path, partial):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
