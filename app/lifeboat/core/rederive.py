"""Re-derive a lost or damaged manifest from the artifact itself (`catalog rebuild`).

A full snapshot holds everything its manifest says: decompressing it (the zstd frame's
own checksum proves it whole) gives its hashes, sizes, page size and count, tables and
schema, and a fresh integrity check. A differential's header names its base and the
base's SHA-256, so with that base at hand it is rebuilt and checked the same way. An
artifact kept encrypted here needs this machine's key. A raw safety copy is re-hashed.

The snapshot's id, source and time come from its file name. A recovered manifest says
so (`recovered`), and marks the snapshot protected: it may have been pinned, and
nothing recovered is pruned until the user decides.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from lifeboat import __version__
from lifeboat.core.dbcheck import check_database
from lifeboat.core.dbinspect import take_inventory
from lifeboat.core.decompress import decompress_file
from lifeboat.core.encryption import decrypt_file
from lifeboat.core.fsutil import publish
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    DIFF_SUFFIX,
    FULL_SUFFIX,
    LOCAL_ENCRYPTION,
    PAGES_SUFFIX,
    STEM_RE,
    TIMESTAMP_FORMAT,
    Manifest,
    Sealed,
    iso_utc,
    utc_now,
    write_manifest,
)
from lifeboat.core.page_digest import CONTENT_DIGEST
from lifeboat.core.pagediff import HEADER, DiffHeader, page_hashes_of
from lifeboat.core.private import open_new
from lifeboat.core.reconstruct import reconstruct
from lifeboat.core.runs import Run
from lifeboat.core.sqlite_file import header_page_size
from lifeboat.foundation.errors import LifeboatError

#: Artifacts whose manifest can be re-derived from the file itself.
RECOVERABLE = (FULL_SUFFIX, DIFF_SUFFIX, FULL_SUFFIX + AGE_SUFFIX, DIFF_SUFFIX + AGE_SUFFIX)


class CannotRederive(Exception):
    """The manifest cannot be re-derived here; the message says why (the file is kept)."""


@dataclass(frozen=True)
class Recovery:
    """What re-deriving needs besides the artifact."""

    run: Run
    scratch: Path  # this run's private scratch folder
    identities: list[str]  # age identities of this machine (for sealed artifacts)
    recipients: list[str]  # what new sealed artifacts are encrypted to
    known: dict[str, tuple[Path, Manifest]]  # manifests found, by id (bases)
    source_path: str = ""
    #: why the identities could not be read (a locked keyring...); None if they were
    no_key_reason: str | None = None


@dataclass(frozen=True)
class _Named:
    """What an artifact's file name says of its snapshot."""

    kind: str  # "full" | "diff"
    stem: str
    source: str
    stamp: str
    snap_id: str
    artifact: str  # its name without the encryption suffix


def rederive(artifact: Path, recovery: Recovery) -> Manifest:
    """Write a manifest for the orphaned artifact `artifact` and return it; raises
    CannotRederive with the reason when it cannot be done (nothing is changed then)."""
    name = artifact.name
    sealed = name.endswith(AGE_SUFFIX)
    named = _read_name(name.removesuffix(AGE_SUFFIX))
    folder = artifact.parent
    plain = artifact
    opened = None
    try:
        if sealed:
            _require_key(recovery)
            opened = recovery.run.work_path(recovery.scratch, "open")
            try:
                decrypt_file(artifact, opened, recovery.identities, f"snapshot file {name}")
            except LifeboatError as exc:
                raise CannotRederive(exc.message) from None
            plain = opened
        manifest = _derive(named, plain, folder, recovery)
    finally:
        if opened is not None:
            with contextlib.suppress(OSError):
                os.unlink(opened)
    if sealed:
        extra = dict(manifest.extra)
        extra[LOCAL_ENCRYPTION] = Sealed(
            tuple(recovery.recipients), artifact.stat().st_size, sha256_file(artifact)
        ).to_json()
        manifest = replace(manifest, extra=extra)
    write_manifest(folder, manifest, recovery.run)
    return manifest


def _read_name(plain_name: str) -> _Named:
    """The snapshot an artifact's (plain) name names; CannotRederive if none."""
    if plain_name.endswith(FULL_SUFFIX):
        kind, stem = "full", plain_name.removesuffix(FULL_SUFFIX)
    elif plain_name.endswith(DIFF_SUFFIX):
        kind, stem = "diff", plain_name.removesuffix(DIFF_SUFFIX)
    else:
        raise CannotRederive(
            "only full and differential snapshots can be recovered from their file"
        )
    match = STEM_RE.match(stem)
    if match is None:
        raise CannotRederive("its name is not a snapshot's")
    return _Named(
        kind, stem, match.group("source"), match.group("ts"), match.group("id"), plain_name
    )


def _require_key(recovery: Recovery) -> None:
    """A sealed artifact needs this machine's key: say why it is not at hand."""
    if not recovery.identities and recovery.no_key_reason:
        raise CannotRederive(
            "it is encrypted and the key to open it could not be read: "
            f"{recovery.no_key_reason}; unlock it and rebuild again"
        )
    if not recovery.identities:
        raise CannotRederive(
            "it is encrypted and this machine has no key to open it; import your "
            "key (lifeboat key import FILE) and rebuild again"
        )


def _derive(named: _Named, plain: Path, folder: Path, recovery: Recovery) -> Manifest:
    """The manifest of the snapshot in `plain` (the artifact, opened if it was sealed),
    re-derived from its content; its work files are removed whatever happens."""
    started = time.monotonic()
    size, sha = plain.stat().st_size, sha256_file(plain)
    database = recovery.run.work_path(recovery.scratch, "recover")
    hashes = hashlib.sha256()
    page_hashes = recovery.run.work_path(folder, "pages") if named.kind == "full" else None
    try:
        if page_hashes is not None:  # a full snapshot: its page-hash list is recomputed
            page_size = _full_page_size(plain)
            db_size = _unpack_full(plain, sha, database, page_size, page_hashes, hashes)
            base_id, db_sha = None, None
        else:
            header, db_sha = _rebuild_on_base(named, plain, size, sha, database, recovery, started)
            page_size = header.page_size
            db_size, base_id = database.stat().st_size, header.base_id
            _hash_pages(database, page_size, hashes)
        checked = check_database(database, "quick")
        inventory = take_inventory(database) if checked.ok else None
        manifest = _manifest(
            named, size, sha, db_size, page_size, db_size // page_size, base_id, db_sha, started
        )
        extra = {**manifest.extra, CONTENT_DIGEST: hashes.hexdigest()}
        pages_sha = None
        if page_hashes is not None:
            pages_sha = _place_page_hashes(folder, named.stem, page_hashes)
        return replace(
            manifest,
            check_mode=checked.mode,
            check_result=checked.summary,
            pages_sha256=pages_sha,
            source_path=recovery.source_path,
            tables=inventory.tables if inventory else None,
            schema_sha256=inventory.schema_sha256 if inventory else None,
            extra=extra,
        )
    finally:
        for work in (database, page_hashes):
            if work is not None:
                with contextlib.suppress(OSError):
                    os.unlink(work)


def _unpack_full(
    plain: Path,
    sha: str,
    database: Path,
    page_size: int,
    page_hashes: Path,
    hashes: hashlib._Hash,
) -> int:
    """Decompress a full artifact into `database` (checked against `sha`), listing its
    page hashes into the new file `page_hashes` on the way; its plain size."""
    with open_new(page_hashes) as listed:
        pending = bytearray()

        def observe(block: memoryview) -> None:
            pending.extend(block)
            whole = len(pending) // page_size * page_size
            if whole:
                found = page_hashes_of(memoryview(pending)[:whole], page_size)
                hashes.update(found)
                listed.write(found)
                del pending[:whole]

        try:
            result = decompress_file(
                plain, database, expected_sha256=sha, observer=observe, durable=False
            )
        except LifeboatError as exc:
            raise CannotRederive(exc.message) from None
    return result.plain_size


def _rebuild_on_base(
    named: _Named,
    plain: Path,
    size: int,
    sha: str,
    database: Path,
    recovery: Recovery,
    started: float,
) -> tuple[DiffHeader, str]:
    """Rebuild the database a differential holds on its base (which must be here, and
    plain) into `database`; its header and the rebuilt database's SHA-256."""
    header = _diff_header(plain)
    base = recovery.known.get(header.base_id)
    if base is None or base[1].sha256 != header.base_sha256:
        raise CannotRederive(
            f"it is a differential of snapshot {header.base_id}, which is not here to rebuild it on"
        )
    base_folder, base_manifest = base
    if base_manifest.local_encryption:
        raise CannotRederive(
            f"its base {header.base_id} is kept encrypted; recover "
            "it after restoring that base's manifest"
        )
    page_size = header.page_size
    provisional = _manifest(
        named,
        size,
        sha,
        header.page_count * page_size,
        page_size,
        header.page_count,
        header.base_id,
        None,
        started,
    )
    try:
        db_sha = reconstruct(
            base_folder / base_manifest.artifact,
            base_manifest,
            plain,
            provisional,
            database,
            durable=False,
        )
    except LifeboatError as exc:
        raise CannotRederive(exc.message) from None
    return header, db_sha


def _hash_pages(database: Path, page_size: int, hashes: hashlib._Hash) -> None:
    with open(database, "rb") as fh:
        while block := fh.read(4 << 20):
            hashes.update(page_hashes_of(memoryview(block), page_size))


def _manifest(
    named: _Named,
    size: int,
    sha: str,
    db_size: int,
    page_size: int,
    page_count: int,
    base: str | None,
    db_sha: str | None,
    started: float,
) -> Manifest:
    created = datetime.strptime(named.stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    return Manifest(
        id=named.snap_id,
        source=named.source,
        created_at=created,
        artifact=named.artifact,
        size=size,
        sha256=sha,
        db_size=db_size,
        page_size=page_size,
        page_count=page_count,
        check_mode="quick",
        check_result="not checked",
        sqlite_version=sqlite3.sqlite_version,
        reason="recovered",
        protected=True,
        source_path="",
        journal_mode="unknown",
        compression="zstd",
        lifeboat_version=__version__,
        duration_s=round(time.monotonic() - started, 3),
        kind=named.kind,
        base=base,
        db_sha256=db_sha,
        extra={"recovered": f"manifest re-derived from the artifact on {iso_utc(utc_now())}"},
    )


def _full_page_size(plain: Path) -> int:
    """The page size from the database header at the start of a full artifact."""
    try:
        with open(plain, "rb") as fh:
            head = zstandard.ZstdDecompressor().stream_reader(fh).read(100)
    except zstandard.ZstdError as exc:
        raise CannotRederive(f"it does not decompress: {exc}") from None
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        raise CannotRederive("it does not hold a SQLite database")
    return header_page_size(head)


def _diff_header(plain: Path) -> DiffHeader:
    try:
        with open(plain, "rb") as fh:
            raw = zstandard.ZstdDecompressor().stream_reader(fh).read(HEADER.size)
        return DiffHeader.unpack(raw)
    except (zstandard.ZstdError, ValueError) as exc:
        raise CannotRederive(f"its header cannot be read: {exc}") from None


def _place_page_hashes(folder: Path, stem: str, fresh: Path) -> str | None:
    """Keep the page-hash list beside the base: the one there if it matches what was
    recomputed, else the recomputed one if there is none (a list that does not match is
    kept as it is, and not used)."""
    final = folder / f"{stem}{PAGES_SUFFIX}"
    digest = sha256_file(fresh)
    if not os.path.lexists(final):
        publish(fresh, final)
        return digest
    return digest if sha256_file(final) == digest else None
