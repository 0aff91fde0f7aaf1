"""Take a snapshot: live database -> consistent copy -> checked, compressed artifact.

Steps: probe the source, check free space, copy it online (dbcopy) into the run's private
scratch folder, then check the copy (quick_check or integrity_check, plus row counts and
a schema hash) in a thread while it is packed: as a full snapshot (zstd, SHA-256 in the
same pass, and the page-hash list a later differential compares against), or, given a
base, as a differential holding only the pages that changed (falling back to a new full
base when too much changed). Every page's xxh3 hash feeds a content digest: a copy whose
digest equals `unchanged_since`'s is not stored again (`Unchanged`). A WAL database whose
file provably holds all of it for the length of one read transaction (core/wal_direct.py)
is copied from that file at page-cache speed, the transaction (which keeps the app's
checkpoints out) ending as soon as the copy is whole, while the copy is packed as it is
written (core/wal_scratch.py); no backup API copy is made.

Files are written as work files of the run (core/runs.py: unique, exclusive, 0600),
fsynced and renamed into place; the manifest comes last (the commit point). A source may
keep its artifacts encrypted with age: the plain artifact is then written in the scratch
folder only and sealed into the snapshot folder, so no plaintext ever sits there. A crash
at any moment leaves either a whole snapshot with its manifest or work files of an ended
run, which the next sweep removes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lifeboat import __version__
from lifeboat.core.dbcheck import UNCHECKED_KEY, CheckResult
from lifeboat.core.dbcopy import CopyResult, copy_database
from lifeboat.core.dbinspect import Inventory
from lifeboat.core.encryption import encrypt_file
from lifeboat.core.fsutil import free_bytes, publish, require_space
from lifeboat.core.hashing import ARTIFACT_XXH3, xxh3_record
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
from lifeboat.core.page_digest import CONTENT_DIGEST
from lifeboat.core.private import disk_full, is_link, write_new
from lifeboat.core.snapshot_converge import converge_ahead_and_pack
from lifeboat.core.snapshot_frozen import (
    Owners,
    check_count_and_map,
    copy_ahead_and_pack,
    pack_frozen,
)
from lifeboat.core.snapshot_pack import Packed, pack_copy
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.core.sqlite_file import RESTORE_HINT, probe_database
from lifeboat.core.wal_direct import frozen_wal
from lifeboat.foundation.errors import OperationFailed, SourceError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_SPACE_MARGIN = 16 << 20


class Unchanged(Exception):
    """The database holds exactly what `manifest`'s snapshot holds: nothing was stored."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(f"unchanged since snapshot {manifest.id}")
        self.manifest = manifest


@dataclass(frozen=True)
class _Taken:
    """The copy of the database, checked and packed: what its manifest describes."""

    copied: CopyResult
    checked: CheckResult
    inventory: Inventory | None
    packed: Packed
    #: a base's page owners (core/history/owners_file.py), put beside it
    owners: Owners = None


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
    _require_room(request, info.estimated_db_size)

    created_at = now or utc_now()
    snap_id = new_snapshot_id()
    stem = snapshot_stem(request.source, created_at, snap_id)
    copy_path = request.run.work_path(request.scratch, "copy")
    written: list[Path] = []  # everything of this snapshot, removed unless it commits
    try:
        taken = _copy_check_and_pack(request, copy_path, written, progress, cancel)
        cancel.check()
        _stop_if_unchanged(request, taken)
        artifact_name = stem + (FULL_SUFFIX if taken.packed.kind == "full" else DIFF_SUFFIX)
        sealed = _put_in_place(request, taken.packed, stem, artifact_name, written)
        _put_owners(request, taken, stem, written)
        extra = _manifest_extra(taken, source_mode, sealed)
        manifest = _manifest(request, taken, snap_id, created_at, artifact_name, extra, started)
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


def _require_room(request: SnapshotRequest, estimate: int) -> None:
    """Refuse to start without room for the copy in scratch and the snapshot in its folder."""
    require_space(request.scratch, estimate + _SPACE_MARGIN, "the temporary copy")
    ratio = min(max(request.expected_ratio, 0.05), 1.0) * 1.25
    require_space(request.folder, int(estimate * ratio) + _SPACE_MARGIN, "the snapshot")


def _copy_check_and_pack(
    request: SnapshotRequest,
    copy_path: Path,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> _Taken:
    """Copy the database, then check the copy in a thread while it is packed; a copy that
    fails the check raises SourceError (nothing is stored). A WAL database whose file
    holds it all is copied from that file (core/wal_converge.py: read lock 0 held for a
    compare, the compressor following the copy, core/snapshot_converge.py; or, with
    wal_scratch "follow", held for the copy, the compressor following it); a safety
    snapshot (`checkpoint_first`, before a restore or merge that writes the database
    anyway) is packed straight from the frozen file (core/snapshot_frozen.py)."""
    if request.checkpoint_first or request.copy.wal_scratch == "follow":
        with frozen_wal(
            request.source_path,
            request.copy.busy_timeout,
            checkpoint=request.checkpoint_first,
            writes_held=request.writes_held,
            # packed through frames_of only (core/snapshot_frozen.py)
            wal_frames=request.checkpoint_first,
        ) as frozen:
            if frozen is not None and request.checkpoint_first:

                def unchanged(packed: Packed, pages: int) -> bool:
                    return unchanged_content(request, packed, pages)

                taken = pack_frozen(request, frozen, written, progress, cancel, unchanged)
                if taken is None:
                    assert request.unchanged_since is not None
                    raise Unchanged(request.unchanged_since)
                return _passed(request, _Taken(*taken))
            if frozen is not None:
                taken = copy_ahead_and_pack(request, frozen, copy_path, written, progress, cancel)
                return _passed(request, _Taken(*taken))
    if request.share is not None:
        request.share.abandon()  # only a pass over the frozen file is shared
    if request.copy.wal_scratch == "converge":
        converged = converge_ahead_and_pack(request, copy_path, written, progress, cancel)
        if converged is not None:
            return _passed(request, _Taken(*converged))
    copied = copy_database(
        request.source_path, copy_path, settings=request.copy, progress=progress, cancel=cancel
    )
    cancel.check()
    with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
        checking = pool.submit(check_count_and_map, copy_path, request)
        packed = pack_copy(request, copy_path, copied.page_size, written, progress, cancel)
        checked, inventory, owners = checking.result()
    return _passed(request, _Taken(copied, checked, inventory, packed, owners))


def _passed(request: SnapshotRequest, taken: _Taken) -> _Taken:
    """`taken`, if its check passed; else SourceError (nothing is stored)."""
    checked = taken.checked
    if not checked.ok:
        raise SourceError(
            f"{request.source_path} fails SQLite's integrity check ({checked.mode}): "
            f"{checked.summary}; no snapshot was stored",
            RESTORE_HINT,
        )
    return taken


def _stop_if_unchanged(request: SnapshotRequest, taken: _Taken) -> None:
    """Raise Unchanged when the copy holds exactly what the newest snapshot holds."""
    if request.unchanged_since is not None and unchanged_content(
        request, taken.packed, taken.copied.page_count
    ):
        raise Unchanged(request.unchanged_since)


def unchanged_content(request: SnapshotRequest, packed: Packed, page_count: int) -> bool:
    """Whether `packed` holds exactly what the newest snapshot (`unchanged_since`) holds."""
    previous = request.unchanged_since
    return (
        previous is not None
        and previous.extra.get(CONTENT_DIGEST) == packed.content_digest
        and previous.page_count == page_count
    )


def _put_in_place(
    request: SnapshotRequest, packed: Packed, stem: str, artifact_name: str, written: list[Path]
) -> Sealed | None:
    """Publish the artifact (sealed when the source keeps them encrypted: then what is
    returned goes into the manifest) and its page-hash list into the snapshot folder."""
    sealed = None
    if request.recipients:
        sealed = _seal(request, packed, artifact_name, written)
    else:
        written.append(request.folder / artifact_name)
        publish(packed.artifact, request.folder / artifact_name)
    if packed.pages is not None:
        written.append(request.folder / f"{stem}{PAGES_SUFFIX}")
        publish(packed.pages, request.folder / f"{stem}{PAGES_SUFFIX}")
    return sealed


def _put_owners(request: SnapshotRequest, taken: _Taken, stem: str, written: list[Path]) -> None:
    """Publish a full base's page-owners file (docs/FORMAT.md), if its check made one."""
    if taken.owners is None or taken.packed.kind != "full":
        return
    from lifeboat.core.history.owners_file import OWNERS_SUFFIX, owners_bytes

    owner, page1 = taken.owners
    data = owners_bytes(owner, page1, request.check, taken.packed.content_digest)
    work = request.run.work_path(request.folder, "owners")
    written.append(work)
    write_new(work, data)
    final = request.folder / f"{stem}{OWNERS_SUFFIX}"
    written.append(final)
    publish(work, final)


def _manifest_extra(
    taken: _Taken, source_mode: int | None, sealed: Sealed | None
) -> dict[str, object]:
    extra: dict[str, object] = {
        "copy_strategy": taken.copied.strategy,
        CONTENT_DIGEST: taken.packed.content_digest,
    }
    if source_mode is not None:
        extra["source_mode"] = source_mode
    if taken.copied.locked_seconds is not None:  # how long writers were kept waiting
        extra["copy_locked_ms"] = round(taken.copied.locked_seconds * 1000, 1)
    if taken.copied.locked_at is not None:
        extra["copy_locked_at"] = round(taken.copied.locked_at, 4)
    if taken.copied.lock_holds:  # the locked compare gave up and was tried again
        extra["copy_lock_holds"] = [
            [round(a, 4), round(s * 1000, 1)] for a, s in taken.copied.lock_holds
        ]
    if taken.copied.packed_again:
        extra["copy_packed_again"] = True
    if taken.checked.unchecked:
        extra[UNCHECKED_KEY] = list(taken.checked.unchecked)
    if taken.packed.note:
        extra["rebased"] = taken.packed.note
    if sealed is not None:
        extra[LOCAL_ENCRYPTION] = sealed.to_json()
    elif taken.packed.result.xxh3:  # a sealed artifact's bytes are the sealed file's
        result = taken.packed.result
        extra[ARTIFACT_XXH3] = xxh3_record(result.sha256, result.xxh3)
    return extra


def _manifest(
    request: SnapshotRequest,
    taken: _Taken,
    snap_id: str,
    created_at: datetime,
    artifact_name: str,
    extra: dict[str, object],
    started: float,
) -> Manifest:
    """What the manifest says of this snapshot (written last: the commit point)."""
    copied, checked, inventory, packed = taken.copied, taken.checked, taken.inventory, taken.packed
    return Manifest(
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


def _seal(
    request: SnapshotRequest, packed: Packed, artifact_name: str, written: list[Path]
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


def _mode_of(path: Path) -> int | None:
    """The live database's permission bits (a restore to a new file gives it these)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o666
    except OSError:
        return None
