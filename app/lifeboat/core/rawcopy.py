"""Byte-exact safety copies of a database file that SQLite cannot read.

Before an in-place restore replaces a damaged database, its files (with -wal/-shm) are
kept as they were, as a protected snapshot of kind "raw": a folder of copies with a
manifest that records each stored file's SHA-256. Nothing is lost, even what SQLite
can't read.

For a source that keeps its snapshots encrypted (`encrypt_local`), the copy is sealed:
each file is encrypted with age to the source's recipients as it is read, so no
plaintext is ever written to the snapshot folder. The folder is then
`<stem>.raw.age/` holding `<file>.age`; the manifest's `files` are the ciphertexts'
SHA-256 (what verify checks without a key), `plain_files` the plaintexts' (checked after
decrypting), and `local_encryption` names the scheme and recipients.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from lifeboat import __version__
from lifeboat.core.encryption import decrypt_file, encrypt_from
from lifeboat.core.fsutil import fsync_dir, require_space
from lifeboat.core.hashing import sha256_file
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    LOCAL_ENCRYPTION,
    Manifest,
    Sealed,
    new_snapshot_id,
    snapshot_stem,
    utc_now,
    write_manifest,
)
from lifeboat.core.private import disk_full, make_new_dir, open_new
from lifeboat.core.raw_hold import KeptReader, held_still, stamps
from lifeboat.core.restore import SIDECARS, publish_over
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import CorruptSnapshot, OperationFailed

log = logging.getLogger(__name__)


class KeptChanging(OperationFailed):
    """No exact raw copy could be made: the files changed during every try (an app
    committing all the while). Nothing was stored; a caller that can stop the app's
    commits (a merge, under its write lock) may try again."""


RAW_SUFFIX = ".raw"
#: copies of a database whose files changed while copied before saying no exact copy
#: can be made (held still, only a -wal restart or a commit moves them: rare)
RAW_COPY_TRIES = 5
PLAIN_FILES = "plain_files"  # manifest key of a sealed raw copy: name -> plaintext SHA-256


def save_raw_copy(
    target: Path,
    folder: Path,
    source: str,
    reason: str,
    run: Run,
    recipients: Sequence[str] = (),
    *,
    busy_timeout: float = 30.0,
) -> Manifest:
    """Copy `target` and its sidecars into `<folder>/<stem>.raw/` (sealed with age to
    `recipients` when given: `<stem>.raw.age/`), built as a work folder of `run` and
    renamed into place when whole; return its manifest. The copy is of one state of the
    files, even while the app that uses them writes or closes (core/raw_hold.py), or
    OperationFailed says it could not be made so (`busy_timeout`: how long a lock of
    the app's is waited for)."""
    started = time.monotonic()
    total = sum(p.stat().st_size for p in _present(target))
    require_space(folder, total + (16 << 20), "the raw safety copy")
    created_at = utc_now()
    snap_id = new_snapshot_id()
    stem = snapshot_stem(source, created_at, snap_id)
    artifact = f"{stem}{RAW_SUFFIX}"
    final = folder / (artifact + AGE_SUFFIX if recipients else artifact)
    partial, (hashes, plain, stored) = _copy_one_state(
        target, folder, run, recipients, busy_timeout
    )
    try:
        fsync_dir(partial)
        os.replace(partial, final)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    extra = _raw_extra(target, recipients, hashes, plain, stored)
    manifest = Manifest(
        id=snap_id,
        source=source,
        created_at=created_at,
        artifact=artifact,
        size=total,
        sha256=(plain if recipients else hashes).get(target.name, ""),
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
        extra=extra,
    )
    write_manifest(folder, manifest, run)
    return manifest


def _present(target: Path) -> list[Path]:
    return [p for p in [target, *(Path(f"{target}{s}") for s in SIDECARS)] if p.exists()]


Copied = tuple[dict[str, str], dict[str, str], int]  # see _copy_files


def _copy_one_state(
    target: Path, folder: Path, run: Run, recipients: Sequence[str], busy_timeout: float
) -> tuple[Path, Copied]:
    """The work folder holding a copy of one state of `target`'s files, and what
    _copy_files says of them; tried again while they changed during the copy (each try
    in a work folder of its own, removed when it fails)."""
    for _ in range(RAW_COPY_TRIES):
        partial = run.work_path(folder, "raw")
        make_new_dir(partial)
        try:
            with held_still(target, busy_timeout) as held:
                before = stamps(target, held.database_fd)
                copied = _copy_files(_present(target), partial, recipients, held.database_fd)
                after = stamps(target, held.database_fd)
            if before.same_state(after):
                return partial, copied
        except FileNotFoundError:
            pass  # a -wal deleted by a checkpoint this process could not hold off
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        shutil.rmtree(partial, ignore_errors=True)
        log.info("%s changed while its raw safety copy was taken: copied again", target)
    raise KeptChanging(
        f"{target} kept changing while its raw safety copy was taken, so no exact copy "
        "of it could be made (nothing was changed)",
        "close the app that uses it, then retry",
    )


def _copy_files(
    files: list[Path], partial: Path, recipients: Sequence[str], database_fd: int
) -> Copied:
    """Copy (or seal, given `recipients`) each file into the work folder `partial`:
    the SHA-256 of each as stored here, of each plaintext when sealed, and the sealed
    files' total size. The database file is read through `database_fd` and its -shm
    through a kept descriptor (core/raw_hold.py: never one closed after)."""
    sealed = bool(recipients)
    hashes: dict[str, str] = {}  # of the files as stored here
    plain: dict[str, str] = {}
    stored = 0
    for index, path in enumerate(files):
        with _reading(path, database_fd if index == 0 else None) as fin:
            if sealed:
                cipher, size, plain[path.name] = _seal_hashed(
                    fin, path, partial / (path.name + AGE_SUFFIX), list(recipients)
                )
                hashes[path.name] = cipher
                stored += size
            else:
                hashes[path.name] = _copy_hashed(fin, path, partial / path.name)
    return hashes, plain, stored


@contextlib.contextmanager
def _reading(path: Path, database_fd: int | None) -> Iterator[BinaryIO]:
    """`path` to read from its start: through `database_fd`, a kept descriptor for a
    -shm (SQLite's locks are on both), a file of its own for the others."""
    if database_fd is not None or path.name.endswith("-shm"):
        fd = database_fd if database_fd is not None else pinned(path)[0]
        try:
            yield cast(BinaryIO, KeptReader(fd))
        finally:
            if database_fd is None:
                unpin(fd)
        return
    with open(path, "rb") as fin:
        yield fin


def _raw_extra(
    target: Path,
    recipients: Sequence[str],
    hashes: dict[str, str],
    plain: dict[str, str],
    stored: int,
) -> dict[str, object]:
    """The raw copy's manifest entries: its files' hashes (and how it is sealed)."""
    extra: dict[str, object] = {"files": hashes}
    if recipients:
        extra[PLAIN_FILES] = plain
        extra[LOCAL_ENCRYPTION] = Sealed(
            tuple(recipients), stored, hashes.get(target.name, "")
        ).to_json()
    return extra


def verify_raw_copy(folder: Path, manifest: Manifest) -> dict[str, str]:
    """Re-hash every file of a raw copy as stored (the ciphertext of a sealed one: no
    key needed); raise CorruptSnapshot on any difference. Return the files checked:
    name -> SHA-256 as stored."""
    where = folder / manifest.stored_name
    files = manifest.extra.get("files")
    if not where.is_dir() or not isinstance(files, dict):
        raise CorruptSnapshot(
            f"raw copy {manifest.id}: {where} is missing", "nothing can be restored from it"
        )
    checked: dict[str, str] = {}
    for name, expected in files.items():
        path = where / _stored_file(manifest, str(name))
        digest = sha256_file(path) if path.is_file() else None
        if digest is None or digest != expected:
            raise CorruptSnapshot(
                f"raw copy {manifest.id}: {name} is missing or changed",
                "nothing can be restored from that file",
            )
        checked[str(name)] = digest
    return checked


def restore_raw_copy(
    folder: Path,
    manifest: Manifest,
    target: Path,
    run: Run,
    identities: Sequence[str] = (),
) -> list[Path]:
    """Put the raw files back as `target` (+ its sidecars); return what was written.

    A sealed copy is decrypted with `identities` (the keyring's). Each file is written
    as a work file next to the target and checked against its recorded SHA-256; then
    the target's old -wal/-shm/-journal are moved aside (never applied to the restored
    file), the copy's sidecars are put in place, and the database file last.
    """
    files = verify_raw_copy(folder, manifest)
    where = folder / manifest.stored_name
    original = Path(manifest.source_path).name
    if original not in files:
        raise CorruptSnapshot(
            f"raw copy {manifest.id} holds no file named {original}",
            "restore its files by hand from " + str(where),
        )
    require_space(target.parent, manifest.size + (16 << 20), "the restored files")
    works: dict[str, Path] = {}  # suffix ("" for the database file) -> its work file
    try:
        for name, stored_sha256 in files.items():
            works[name[len(original) :]] = work = run.work_path(target.parent, "restore")
            _restore_file(manifest, where, name, stored_sha256, work, identities)
        sidecars = {suffix: work for suffix, work in works.items() if suffix}
        publish_over(works[""], target, run, new_sidecars=sidecars)
    except BaseException:
        for work in works.values():  # those already in place are no longer there
            with contextlib.suppress(OSError):
                work.unlink()
        raise
    return [target, *(Path(f"{target}{suffix}") for suffix in sidecars)]


def raw_copy_into(
    folder: Path, manifest: Manifest, scratch: Path, identities: Sequence[str] = ()
) -> Path:
    """The raw copy's files written into `scratch` (a folder of this run's own: its
    scratch space) under the database's own name and its sidecars' (so that SQLite
    reads them together), each checked against its hash; returns the database file.
    For a preview: nothing is published anywhere else."""
    files = verify_raw_copy(folder, manifest)
    original = Path(manifest.source_path).name
    if original not in files:
        raise CorruptSnapshot(
            f"raw copy {manifest.id} holds no file named {original}",
            "see its files in " + str(folder / manifest.stored_name),
        )
    for name, stored_sha256 in files.items():
        _restore_file(
            manifest, folder / manifest.stored_name, name, stored_sha256, scratch / name, identities
        )
    return scratch / original


def raw_copy_size(folder: Path, manifest: Manifest) -> int | None:
    where = folder / manifest.stored_name
    if not where.is_dir():
        return None
    return sum(p.stat().st_size for p in where.iterdir() if p.is_file())


def _stored_file(manifest: Manifest, name: str) -> str:
    return name + AGE_SUFFIX if manifest.local_encryption else name


def _restore_file(
    manifest: Manifest,
    where: Path,
    name: str,
    stored_sha256: str,
    work: Path,
    identities: Sequence[str],
) -> None:
    """Write one file of the copy to the new file `work`, checked against its hash
    (`stored_sha256`: the file as stored, checked by verify_raw_copy)."""
    stored = where / _stored_file(manifest, name)
    if manifest.local_encryption:
        decrypt_file(
            stored,
            work,
            list(identities),
            f"file {name} of raw copy {manifest.id} (kept encrypted on this machine)",
            manifest.local_recipients,
        )
        plain = manifest.extra.get(PLAIN_FILES)
        expected = plain.get(name) if isinstance(plain, dict) else None
        if expected is not None and sha256_file(work) != expected:
            raise CorruptSnapshot(
                f"raw copy {manifest.id}: {name} decrypts to other bytes than were copied",
                "nothing can be restored from that file",
            )
    elif _copy_file_hashed(stored, work) != stored_sha256:
        raise CorruptSnapshot(
            f"raw copy {manifest.id}: {name} changed while it was restored", "retry"
        )


def _copy_file_hashed(src: Path, dst: Path) -> str:
    with open(src, "rb") as fin:
        return _copy_hashed(fin, src, dst)


def _copy_hashed(fin: BinaryIO, src: Path, dst: Path) -> str:
    """Copy `fin` (the file `src`) into the new file `dst`; its SHA-256."""
    digest = hashlib.sha256()
    try:
        with open_new(dst) as fout:
            while block := fin.read(4 << 20):
                digest.update(block)
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
    except FileNotFoundError:
        raise  # the file went away while read: see _copy_one_state
    except OSError as exc:
        with contextlib.suppress(OSError):
            dst.unlink()
        raise _copy_failed(src, dst, exc) from None
    return digest.hexdigest()


def _seal_hashed(
    fin: BinaryIO, src: Path, dst: Path, recipients: list[str]
) -> tuple[str, int, str]:
    """Encrypt `fin` (the file `src`) with age into the new file `dst`, streaming (no
    plaintext is written); return (the ciphertext's SHA-256, its size, the plaintext's
    SHA-256), all of the bytes that were actually encrypted."""
    try:
        sealed = encrypt_from(fin, dst, recipients)
    except OSError as exc:
        raise _copy_failed(src, dst, exc) from None
    return sealed.sha256, sealed.size, sealed.plain_sha256


def _copy_failed(src: Path, dst: Path, exc: OSError) -> OperationFailed:
    if disk_full(exc):
        return OperationFailed(
            f"the disk is full: {src} could not be copied into {dst.parent}",
            "free some space there, then retry",
        )
    return OperationFailed(f"cannot copy {src}: {exc.strerror or exc}")
