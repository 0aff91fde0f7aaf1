"""Verify a stored artifact: hash, decompress and integrity-check it.

`extract_verified` is the one path every reader takes (verify, restore, export, drills):
the artifact's SHA-256 must match its manifest, it must decompress whole, and the result
must pass the integrity check, before anything uses it.

"Damaged" is said only of proven damage to the snapshot's own file (a hash that does
not match, data that does not decompress, an integrity check that finds problems, SQLite
reporting the file corrupt). A differential whose base failed is not damaged itself: it
"cannot be restored: its base ... is damaged". A check that could not run for another
reason (disk full, I/O error, a lock) raises OperationFailed with that reason.

A restore may take a proof in place of the integrity check (`proof_replaces_check`): the
restored bytes proven, by the content digest of their pages (a full) or their SHA-256 (a
differential), to be exactly the database the snapshot's own check passed, in a mode
covering the one asked for (core/page_digest.py; docs/SAFETY.md, "Restores"). Without that
proof the check runs as always. `lifeboat verify` and drills always check.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lifeboat.core.dbcheck import check_database
from lifeboat.core.decompress import decompress_file
from lifeboat.core.fsutil import require_space
from lifeboat.core.manifest import Manifest
from lifeboat.core.page_digest import (
    is_recorded_digest,
    recorded_digest,
    snapshot_check_passed,
)
from lifeboat.core.reconstruct import BaseMissing, BaseUnusable, reconstruct
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.errors import CorruptSnapshot, MissingArtifact
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_SPACE_MARGIN = 16 << 20


def extract_verified(
    folder: Path,
    manifest: Manifest,
    dest: Path,
    *,
    check: str = "full",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    base: tuple[Path, Manifest] | None = None,
    durable: bool = True,
    proof_replaces_check: bool = False,
) -> Path:
    """Decompress the artifact (a differential: rebuild it on its `base`, given as
    (folder, manifest)) into the new file `dest` and check it; return `dest`.

    Raises CorruptSnapshot (and leaves no `dest`) if anything does not match: its
    subclass BaseUnusable when only a differential's base failed.
    """
    owed = _extract_verified(
        folder, manifest, dest, check, progress, cancel, base, durable, proof_replaces_check
    )
    if owed:
        _checked_or_removed(dest, manifest, check)
    return dest


def extract_check_owed(
    folder: Path,
    manifest: Manifest,
    dest: Path,
    *,
    check: str,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    base: tuple[Path, Manifest] | None = None,
    durable: bool = True,
    written: WrittenSoFar | None = None,
) -> bool:
    """extract_verified of a restore in place, proof replacing the check: the same
    extraction, proofs and errors, but a check the proof does not replace is left to
    the caller (check_extracted, run beside its write, which commits only once it
    passed); returns whether it is owed. `written` is told how far `dest` is written
    (a full snapshot's; a rebuilt differential says nothing until it is done)."""
    return _extract_verified(
        folder, manifest, dest, check, progress, cancel, base, durable, True, written
    )


def check_extracted(dest: Path, manifest: Manifest, check: str) -> None:
    """The check extract_check_owed left owed: raises CorruptSnapshot as extract_verified
    would (`dest` is left to the caller, whose write may be reading it)."""
    try:
        _check_extracted(dest, manifest, check)
    except CorruptSnapshot as exc:
        exc.message = _damaged(manifest, exc.message)
        raise


def _checked_or_removed(dest: Path, manifest: Manifest, check: str) -> None:
    try:
        _check_extracted(dest, manifest, check)
    except BaseException as exc:
        _remove_failed(dest, manifest, exc)
        raise


def _remove_failed(dest: Path, manifest: Manifest, exc: BaseException) -> None:
    """`dest` is not kept; a CorruptSnapshot names the snapshot damaged."""
    with contextlib.suppress(OSError):
        os.unlink(dest)
    if isinstance(exc, CorruptSnapshot):
        exc.message = _damaged(manifest, exc.message)


def _damaged(manifest: Manifest, message: str) -> str:
    return f"snapshot {manifest.id} ({manifest.source}) is damaged: " + message.removeprefix(
        f"snapshot {manifest.id}: "
    )


def _extract_verified(
    folder: Path,
    manifest: Manifest,
    dest: Path,
    check: str,
    progress: Progress,
    cancel: CancelToken | None,
    base: tuple[Path, Manifest] | None,
    durable: bool,
    proof_replaces_check: bool,
    written: WrittenSoFar | None = None,
) -> bool:
    """extract_verified without its check; whether the check is owed (not proven)."""
    artifact = folder / manifest.artifact
    if not artifact.is_file():
        raise MissingArtifact(
            f"snapshot {manifest.id}: its file {artifact} is missing",
            "use another snapshot (or its remote copy)",
        )
    require_space(dest.parent, manifest.db_size + _SPACE_MARGIN, "the decompressed snapshot")
    try:
        wants_proof = (
            proof_replaces_check and check != "none" and snapshot_check_passed(manifest, check)
        )
        proven = _extract(
            artifact, manifest, dest, base, progress, cancel, durable, wants_proof, written
        )
    except BaseUnusable as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        # Its own file is intact: not "damaged"; the base is.
        exc.message = (
            f"snapshot {manifest.id} ({manifest.source}) cannot be restored: "
            f"its base {exc.base_id} is damaged: {exc.reason}"
        )
        raise
    except BaseException as exc:
        _remove_failed(dest, manifest, exc)
        raise
    return not proven and check != "none"


def _extract(
    artifact: Path,
    manifest: Manifest,
    dest: Path,
    base: tuple[Path, Manifest] | None,
    progress: Progress,
    cancel: CancelToken | None,
    durable: bool,
    wants_proof: bool,
    written: WrittenSoFar | None,
) -> bool:
    """Decompress or rebuild the snapshot into `dest`; whether (`wants_proof`) its bytes
    are proven to be the ones the snapshot recorded (the ones its check passed)."""
    if manifest.kind == "diff":
        _rebuild_on_base(artifact, manifest, dest, base, progress, cancel, durable)
        # reconstruct proved the rebuilt database's content digest equal to the one the
        # manifest records, or (one that records none) its SHA-256 equal to db_sha256
        return wants_proof and bool(manifest.db_sha256 or recorded_digest(manifest))
    digest = _decompress_full(
        artifact, manifest, dest, progress, cancel, durable, wants_proof, written
    )
    return wants_proof and is_recorded_digest(manifest, digest)


def _rebuild_on_base(
    artifact: Path,
    manifest: Manifest,
    dest: Path,
    base: tuple[Path, Manifest] | None,
    progress: Progress,
    cancel: CancelToken | None,
    durable: bool,
) -> None:
    """Rebuild a differential on its base into `dest` (BaseMissing if the base is not here)."""
    if base is None:
        raise BaseMissing(manifest.id, str(manifest.base), "is not available")
    base_artifact = base[0] / base[1].artifact
    if not base_artifact.is_file():
        raise BaseMissing(
            manifest.id, base[1].id, f"is missing: its file {base_artifact} is not there"
        )
    reconstruct(
        base_artifact,
        base[1],
        artifact,
        manifest,
        dest,
        progress=progress,
        cancel=cancel,
        durable=durable,
    )


def _decompress_full(
    artifact: Path,
    manifest: Manifest,
    dest: Path,
    progress: Progress,
    cancel: CancelToken | None,
    durable: bool,
    digest_pages: bool,
    written: WrittenSoFar | None = None,
) -> str:
    """Decompress a full snapshot into `dest`: its size and hashes must match its manifest.
    Its content digest (when `digest_pages`; else "")."""
    result = decompress_file(
        artifact,
        dest,
        expected_sha256=manifest.sha256,
        expected_size=manifest.size,
        progress=progress,
        cancel=cancel,
        hash_plain=bool(manifest.db_sha256),
        durable=durable,
        page_size=manifest.page_size if digest_pages else 0,
        written=written,
    )
    if result.plain_size != manifest.db_size:
        raise CorruptSnapshot(
            f"snapshot {manifest.id}: decompresses to {result.plain_size} bytes, its "
            f"manifest says {manifest.db_size}",
            "use another snapshot",
        )
    if manifest.db_sha256 and result.plain_sha256 != manifest.db_sha256:
        raise CorruptSnapshot(
            f"snapshot {manifest.id}: the database's SHA-256 does not match its manifest",
            "use another snapshot",
        )
    return result.pages_digest


def _check_extracted(dest: Path, manifest: Manifest, check: str) -> None:
    """Run the integrity check `check` ("none": no check) on the extracted database."""
    # Not mapped (mmap_size 0): a mapped file's pages count in the process's memory, so
    # a check of a 1 GiB database took 1 GiB of RSS; read in pages, memory stays SQLite's
    # small page cache whatever the size (the check takes ~0.3 s more per GiB).
    outcome = check_database(dest, check) if check != "none" else None
    if outcome is not None and not outcome.ok:
        raise CorruptSnapshot(
            f"snapshot {manifest.id} fails its integrity check: {outcome.summary}",
            "use another snapshot",
        )
