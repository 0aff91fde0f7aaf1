"""What a restore would change, before it happens: `lifeboat diff` and the wizard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.sqlite_file import probe_database
from lifeboat.core.verify import extract_verified
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.remote.fetch import snapshot_files

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

    config = workspace.config()
    with _extracted(workspace, record, progress, cancel) as snapshot_db:
        if against is not None:
            with _extracted(workspace, against, progress, cancel) as other:
                return diff_databases(
                    snapshot_db, other, budget=budget, progress=progress, cancel=cancel
                )
        src = config.sources.get(record.source)
        if src is None:
            raise LifeboatError(
                f"source {record.source!r} is no longer configured, so there "
                "is no live database to compare with",
                "compare with another snapshot: --against ID",
            )
        probe_database(src.path)
        return diff_databases(
            snapshot_db, src.path, budget=budget, progress=progress, cancel=cancel
        )


@contextlib.contextmanager
def _extracted(
    workspace: Workspace, record: SnapshotRecord, progress: Progress, cancel: CancelToken
) -> Iterator[Path]:
    """The snapshot as a scratch database (hash-checked; removed afterwards)."""
    target = workspace.run.work_path(workspace.scratch(), "preview")
    try:
        with snapshot_files(workspace, record, progress, cancel) as files:
            # A scratch copy, read once and deleted: not worth an fsync.
            extract_verified(
                files.folder,
                record.manifest,
                target,
                check="none",
                progress=progress,
                cancel=cancel,
                base=files.base,
                durable=False,
            )
        yield target
    finally:
        target.unlink(missing_ok=True)
