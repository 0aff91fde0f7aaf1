"""Where to read a snapshot from: its own folder, a private scratch folder it was
decrypted into, or one it was downloaded into from a remote (removed afterwards)."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.encryption import decrypt_file, stored_identities
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    Manifest,
)
from lifeboat.core.private import make_new_dir, private_dir
from lifeboat.core.reconstruct import BaseMissing, BaseUnusable
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError, MissingArtifact
from lifeboat.foundation.progress import CancelToken, Progress

log = logging.getLogger(__name__)


def fetch_artifact(
    workspace: Workspace,
    record: SnapshotRecord,
    dest_dir: Path,
    progress: Progress,
    cancel: CancelToken,
) -> Path:
    """Download a snapshot's artifact into `dest_dir` (named as in its manifest)."""
    config = workspace.config()
    # Proven copies first, then the source's own remote; never one whose bytes were
    # found not to match its manifest.
    copies = sorted(
        record.copies, key=lambda c: (not c.proven, c.remote != _preferred(config, record))
    )
    usable = [c for c in copies if c.remote in config.remotes and not c.proof_failed]
    if not usable:
        failed = [c for c in record.copies if c.proof_failed and c.remote in config.remotes]
        if failed:
            raise LifeboatError(
                f"snapshot {record.id} has no local file, and its copy on "
                f"{failed[0].remote} does not match its manifest ({failed[0].proof_failed})",
                "restore another snapshot; `lifeboat catalog rebuild` checks the remote again",
            )
        where = ", ".join(c.remote for c in record.copies) or "no remote"
        raise LifeboatError(
            f"snapshot {record.id} has no local file, and its remote copies "
            f"({where}) are not on a configured remote",
            "add the remote again (lifeboat remote add) or restore another snapshot",
        )
    copy = usable[0]
    remote = config.remote(copy.remote)
    private_dir(dest_dir, "download folder")
    target = dest_dir / record.manifest.artifact
    download = target.with_name(target.name + AGE_SUFFIX) if copy.encrypted else target
    store = workspace.stores.open(remote)
    try:
        store.get_file(copy.key, download, progress=progress, cancel=cancel)
    finally:
        store.close()
    if copy.encrypted:
        try:
            decrypt_file(
                download,
                target,
                stored_identities(workspace.secrets),
                f"the copy of snapshot {record.id} on remote {remote.name}",
                workspace.config().general.recipients,
            )
        finally:
            download.unlink(missing_ok=True)
    return dest_dir


def _preferred(config: object, record: SnapshotRecord) -> str | None:
    src = getattr(config, "sources", {}).get(record.source)
    return src.remote if src is not None else None


@contextlib.contextmanager
def artifact_folder(
    workspace: Workspace, record: SnapshotRecord, progress: Progress, cancel: CancelToken
) -> Iterator[Path]:
    """The folder holding the snapshot's artifact: its own, or a folder of this run's
    scratch space it was decrypted or downloaded into (removed afterwards whatever
    happens, and by the next sweep if the process is killed)."""
    if record.local and record.path.is_file():
        sealed = record.manifest.local_encryption
        if sealed is None:
            yield record.folder
            return
        scratch = workspace.run.work_path(workspace.scratch(), "open")
        make_new_dir(scratch)
        try:
            decrypt_file(
                record.path,
                scratch / record.manifest.artifact,
                stored_identities(workspace.secrets),
                f"snapshot {record.id} (kept encrypted on this machine)",
                record.manifest.local_recipients,
            )
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    if not record.copies:
        what = "a base" if record.manifest.kind == "full" else "a snapshot"
        raise MissingArtifact(
            f"snapshot {record.id} ({what}): its file {record.path} is "
            "missing and it has no remote copy",
            "use another snapshot",
        )
    scratch = workspace.run.work_path(workspace.scratch(), "fetch")
    try:
        yield fetch_artifact(workspace, record, scratch, progress, cancel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class SnapshotFiles:
    """Where to read a snapshot (and, for a differential, its base) from."""

    folder: Path
    manifest: Manifest
    base: tuple[Path, Manifest] | None = None


@contextlib.contextmanager
def snapshot_files(
    workspace: Workspace, record: SnapshotRecord, progress: Progress, cancel: CancelToken
) -> Iterator[SnapshotFiles]:
    """The snapshot's artifact and, for a differential, its base's: local where they are,
    downloaded from a remote where not (temporary copies removed afterwards).

    A differential whose own file is intact but whose base cannot be opened raises
    BaseUnusable (the base is damaged) or BaseMissing: the differential is not damaged.
    """
    with artifact_folder(workspace, record, progress, cancel) as folder:
        if record.manifest.kind != "diff":
            yield SnapshotFiles(folder, record.manifest)
            return
        base_id = str(record.manifest.base)
        try:
            base = workspace.catalog.snapshot(base_id)
        except LifeboatError:
            raise BaseMissing(record.id, base_id, "is gone") from None
        with contextlib.ExitStack() as opened:
            try:
                base_folder = opened.enter_context(
                    artifact_folder(workspace, base, progress, cancel)
                )
            except CorruptSnapshot as exc:
                _require_intact(folder, record.manifest)
                raise BaseUnusable(record.id, base_id, exc.message) from None
            except MissingArtifact as exc:
                raise BaseMissing(record.id, base_id, f"is not available: {exc.message}") from None
            yield SnapshotFiles(folder, record.manifest, (base_folder, base.manifest))


def _require_intact(folder: Path, manifest: Manifest) -> None:
    """Before a differential is said to be intact and its base damaged: its own
    artifact matches its manifest (else it is the one that is damaged)."""
    artifact = folder / manifest.artifact
    if not artifact.is_file() or sha256_file(artifact) != manifest.sha256:
        raise CorruptSnapshot(
            f"snapshot {manifest.id} ({manifest.source}) is damaged: its file's SHA-256 "
            "does not match its manifest",
            "use another snapshot",
        )
