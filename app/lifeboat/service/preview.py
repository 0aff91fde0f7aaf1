"""What a restore would change, before it happens: `lifeboat diff` and the wizard."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.encryption import stored_identities
from lifeboat.core.manifest import Manifest
from lifeboat.core.private import make_new_dir
from lifeboat.core.rawcopy import raw_copy_into
from lifeboat.core.sqlite_file import file_uri, probe_database
from lifeboat.core.verify import extract_verified
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError, LifeboatError, MissingArtifact
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.remote.fetch import SnapshotFiles, snapshot_files

# Imported where used, not here: these pull in heavy libraries (zstandard, apsw, APScheduler,
# numpy) or the jobs, which commands such as `lifeboat status` must not load at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.dbdiff_records import DatabaseDiff


def preview_restore(
    workspace: Workspace,
    record: SnapshotRecord,
    against: SnapshotRecord | None,
    *,
    budget: float,
    progress: Progress,
    cancel: CancelToken,
) -> DatabaseDiff:
    """Compare the snapshot with the source's live database (or with `against`)."""
    from lifeboat.core.dbdiff import diff_databases

    if against is not None:
        with (
            _extracted(workspace, record, progress, cancel) as snapshot_db,
            _extracted(workspace, against, progress, cancel) as other,
        ):
            return diff_databases(
                snapshot_db, other, budget=budget, progress=progress, cancel=cancel
            )
    src = workspace.config().sources.get(record.source)
    if src is None:
        raise LifeboatError(
            f"source {record.source!r} is no longer configured, so there "
            "is no live database to compare with",
            "compare with another snapshot: --against ID",
        )
    probe_database(src.path)
    if not _pages_may_tell(record):
        with _extracted(workspace, record, progress, cancel) as snapshot_db:
            return diff_databases(
                snapshot_db, src.path, budget=budget, progress=progress, cancel=cancel
            )
    # One opening of the snapshot's files (a sealed one is decrypted once) for both ways.
    with snapshot_files(workspace, record, progress, cancel) as files:
        quick = _by_pages(workspace, record, files.folder, src.path, budget, progress, cancel)
        if quick is not None:
            return quick
        with _extracted_from(workspace, files, record.manifest, progress, cancel) as snapshot_db:
            return diff_databases(
                snapshot_db, src.path, budget=budget, progress=progress, cancel=cancel
            )


def _pages_may_tell(record: SnapshotRecord) -> bool:
    """Whether the preview by pages may apply: a full snapshot kept here with its
    page-hash list (one only on a remote is not fetched for it)."""
    manifest = record.manifest
    return manifest.kind == "full" and bool(manifest.pages_sha256) and record.local


def _by_pages(
    workspace: Workspace,
    record: SnapshotRecord,
    artifact_folder: Path,
    live: Path,
    budget: float,
    progress: Progress,
    cancel: CancelToken,
) -> DatabaseDiff | None:
    """The preview decompressing only the pages that differ from the live database
    (core/preview_pages.py), or None where that cannot be proven."""
    from lifeboat.core.preview_pages import page_preview

    target = workspace.run.work_path(workspace.scratch(), "preview")
    try:
        return page_preview(
            record.folder,
            artifact_folder,
            record.manifest,
            live,
            target,
            budget=budget,
            progress=progress,
            cancel=cancel,
        )
    finally:
        target.unlink(missing_ok=True)


@contextlib.contextmanager
def _extracted(
    workspace: Workspace, record: SnapshotRecord, progress: Progress, cancel: CancelToken
) -> Iterator[Path]:
    """The snapshot as a scratch database (hash-checked; removed afterwards)."""
    if record.manifest.kind == "raw":
        with _raw_files(workspace, record) as database:
            yield database
        return
    target = workspace.run.work_path(workspace.scratch(), "preview")
    try:
        # the snapshot's own files (decrypted, fetched) go before the comparison
        with snapshot_files(workspace, record, progress, cancel) as files:
            _extract(files, record.manifest, target, progress, cancel)
        yield target
    finally:
        target.unlink(missing_ok=True)


@contextlib.contextmanager
def _extracted_from(
    workspace: Workspace,
    files: SnapshotFiles,
    manifest: Manifest,
    progress: Progress,
    cancel: CancelToken,
) -> Iterator[Path]:
    """The snapshot whose files are open as a scratch database (removed afterwards)."""
    target = workspace.run.work_path(workspace.scratch(), "preview")
    try:
        _extract(files, manifest, target, progress, cancel)
        yield target
    finally:
        target.unlink(missing_ok=True)


def _extract(
    files: SnapshotFiles, manifest: Manifest, target: Path, progress: Progress, cancel: CancelToken
) -> None:
    # A scratch copy, read once and deleted: not worth an fsync.
    extract_verified(
        files.folder,
        manifest,
        target,
        check="none",
        progress=progress,
        cancel=cancel,
        base=files.base,
        durable=False,
    )


@contextlib.contextmanager
def _raw_files(workspace: Workspace, record: SnapshotRecord) -> Iterator[Path]:
    """A raw safety copy's files (the database and its sidecars, decrypted if sealed)
    in a folder of this run's scratch space, removed afterwards. A raw copy is never
    uploaded (remote/plans.py): it is here or nowhere."""
    manifest = record.manifest
    if not (record.folder / manifest.stored_name).is_dir():
        raise MissingArtifact(
            f"raw safety copy {record.id}: its folder {record.folder / manifest.stored_name} "
            "is missing (a raw copy is never sent to a remote)",
            "use another snapshot",
        )
    scratch = workspace.run.work_path(workspace.scratch(), "preview")
    make_new_dir(scratch)
    try:
        identities = stored_identities(workspace.secrets) if manifest.local_encryption else []
        database = raw_copy_into(record.folder, manifest, scratch, identities)
        _require_readable(database, record.id)
        yield database
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _require_readable(database: Path, snapshot_id: str) -> None:
    """A raw copy is of a file SQLite could not read as a whole: if it cannot even read
    its schema, there are no rows to compare, and that is said (not "missing")."""
    try:
        # quoted: the scratch folder is under the temp folder the user may choose
        conn = sqlite3.connect(file_uri(database, mode="ro"), uri=True)
        try:
            conn.execute("select count(*) from sqlite_schema").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(
            f"snapshot {snapshot_id} is a raw safety copy of a database SQLite could not "
            f"read, and it cannot read this copy either ({exc}): there are no rows to compare",
            f"get its files back with: lifeboat restore {snapshot_id} --to FILE",
        ) from None
