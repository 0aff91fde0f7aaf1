"""Verify a stored artifact: hash, decompress and integrity-check it.

`extract_verified` is the one path every reader takes (verify, restore, export, drills):
the artifact's SHA-256 must match its manifest, it must decompress whole, and the result
must pass the integrity check, before anything uses it.

"Damaged" is said only of proven damage to the snapshot's own file (a hash that does
not match, data that does not decompress, an integrity check that finds problems, SQLite
reporting the file corrupt). A differential whose base failed is not damaged itself: it
"cannot be restored: its base ... is damaged". A check that could not run for another
reason (disk full, I/O error, a lock) raises OperationFailed with that reason.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lifeboat.core.dbcheck import check_database
from lifeboat.core.decompress import decompress_file
from lifeboat.core.fsutil import require_space
from lifeboat.core.manifest import Manifest
from lifeboat.core.reconstruct import BaseMissing, BaseUnusable, reconstruct
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
) -> Path:
    """Decompress the artifact (a differential: rebuild it on its `base`, given as
    (folder, manifest)) into the new file `dest` and check it; return `dest`.

    Raises CorruptSnapshot (and leaves no `dest`) if anything does not match: its
    subclass BaseUnusable when only a differential's base failed.
    """
    artifact = folder / manifest.artifact
    if not artifact.is_file():
        raise MissingArtifact(
            f"snapshot {manifest.id}: its file {artifact} is missing",
            "use another snapshot (or its remote copy)",
        )
    require_space(dest.parent, manifest.db_size + _SPACE_MARGIN, "the decompressed snapshot")
    try:
        if manifest.kind == "diff":
            _rebuild_on_base(artifact, manifest, dest, base, progress, cancel, durable)
        else:
            _decompress_full(artifact, manifest, dest, progress, cancel, durable)
        _check_extracted(dest, manifest, check)
    except BaseUnusable as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        # Its own file is intact: not "damaged"; the base is.
        exc.message = (
            f"snapshot {manifest.id} ({manifest.source}) cannot be restored: "
            f"its base {exc.base_id} is damaged: {exc.reason}"
        )
        raise
    except CorruptSnapshot as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        exc.message = (
            f"snapshot {manifest.id} ({manifest.source}) is damaged: "
            + exc.message.removeprefix(f"snapshot {manifest.id}: ")
        )
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise
    return dest


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
) -> None:
    """Decompress a full snapshot into `dest`: its size and hashes must match its manifest."""
    result = decompress_file(
        artifact,
        dest,
        expected_sha256=manifest.sha256,
        expected_size=manifest.size,
        progress=progress,
        cancel=cancel,
        hash_plain=bool(manifest.db_sha256),
        durable=durable,
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


def check_extracted(dest: Path, manifest: Manifest, check: str) -> None:
    """extract_verified's check of a database it extracted with check "none" (an
    in-place restore runs it beside the write, which commits only once it passed):
    raises CorruptSnapshot if it fails."""
    _check_extracted(dest, manifest, check)


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
