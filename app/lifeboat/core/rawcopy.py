"""Byte-exact safety copies of a database file that SQLite cannot read.

Before an in-place restore replaces a damaged database, its files (with -wal/-shm) are
kept as they were, as a protected snapshot of kind "raw": a folder of plain copies with
a manifest that records each file's SHA-256. Nothing is lost, even what SQLite can't read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import time
from pathlib import Path

from lifeboat import __version__
from lifeboat.core.fsutil import fsync_dir, require_space
from lifeboat.core.manifest import Manifest, new_snapshot_id, snapshot_stem, utc_now, write_manifest
from lifeboat.core.private import make_new_dir, open_new
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import CorruptSnapshot, OperationFailed

RAW_SUFFIX = ".raw"
SIDECARS = ("-wal", "-shm", "-journal")


def save_raw_copy(target: Path, folder: Path, source: str, reason: str, run: Run) -> Manifest:
    """Copy `target` and its sidecars into `<folder>/<stem>.raw/` (built as a work folder
    of `run`, renamed into place when whole); return its manifest."""
    started = time.monotonic()
    files = [p for p in [target, *(Path(f"{target}{s}") for s in SIDECARS)] if p.exists()]
    total = sum(p.stat().st_size for p in files)
    require_space(folder, total + (16 << 20), "the raw safety copy")
    created_at = utc_now()
    snap_id = new_snapshot_id()
    stem = snapshot_stem(source, created_at, snap_id)
    final = folder / f"{stem}{RAW_SUFFIX}"
    partial = run.work_path(folder, "raw")
    make_new_dir(partial)
    hashes: dict[str, str] = {}
    try:
        for path in files:
            hashes[path.name] = _copy_hashed(path, partial / path.name)
        fsync_dir(partial)
        os.replace(partial, final)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    manifest = Manifest(
        id=snap_id,
        source=source,
        created_at=created_at,
        artifact=final.name,
        size=total,
        sha256=hashes.get(target.name, ""),
        db_size=target.stat().st_size if target.exists() else 0,
        page_size=0,
        page_count=0,
        check_mode="none",
        check_result="not a readable SQLite database",
        sqlite_version=sqlite3.sqlite_version,
        reason=reason,
        protected=True,
        source_path=str(target),
        journal_mode="unknown",
        compression="none",
        lifeboat_version=__version__,
        duration_s=round(time.monotonic() - started, 3),
        kind="raw",
        extra={"files": hashes},
    )
    write_manifest(folder, manifest, run)
    return manifest


def verify_raw_copy(folder: Path, manifest: Manifest) -> None:
    """Re-hash every file of a raw copy; raise CorruptSnapshot on any difference."""
    where = folder / manifest.artifact
    files = manifest.extra.get("files")
    if not where.is_dir() or not isinstance(files, dict):
        raise CorruptSnapshot(
            f"raw copy {manifest.id}: {where} is missing", "nothing can be restored from it"
        )
    for name, expected in files.items():
        path = where / str(name)
        if not path.is_file() or _hash(path) != expected:
            raise CorruptSnapshot(
                f"raw copy {manifest.id}: {name} is missing or changed",
                "nothing can be restored from that file",
            )


def restore_raw_copy(folder: Path, manifest: Manifest, target: Path, run: Run) -> list[Path]:
    """Put the raw files back as `target` (+ its sidecars); return what was written."""
    verify_raw_copy(folder, manifest)
    where = folder / manifest.artifact
    original = Path(manifest.source_path).name
    written = []
    for name in manifest.extra["files"]:  # type: ignore[union-attr]
        suffix = str(name)[len(original) :]
        out = Path(f"{target}{suffix}")
        tmp = run.work_path(target.parent, "restore")
        _copy_hashed(where / str(name), tmp)
        os.replace(tmp, out)
        written.append(out)
    fsync_dir(target.parent)
    return written


def raw_copy_size(folder: Path, manifest: Manifest) -> int | None:
    where = folder / manifest.artifact
    if not where.is_dir():
        return None
    return sum(p.stat().st_size for p in where.iterdir() if p.is_file())


def _copy_hashed(src: Path, dst: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as fin, open_new(dst) as fout:
            while block := fin.read(4 << 20):
                digest.update(block)
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            dst.unlink()
        raise OperationFailed(f"cannot copy {src}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()
