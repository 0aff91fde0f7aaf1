"""Sending a source's continuous history to its remote (the plan: history_plans.py).

Each object goes up the way a snapshot's artifact does (remote/upload.py's
put_checked_file and put_sealed_file): the bytes read must hash to the segment's
SHA-256, the store proves it holds exactly what was sent (Content-MD5/ETag or a read
back), an upload in parts is in the open-upload ledger (a killed run's is aborted by the
next), and with an encrypting remote the object is the age ciphertext, sealed to the
same recipients as snapshots. Then its manifest (the segment's, with the object as the
server holds it and, sealed, its `encryption` record), and only then is the copy
recorded in the catalog. The chain's base snapshot goes up first if the remote has no
proven copy of it: a history without its base restores nothing.

Segments waiting together are joined into one segment (of a level-1 segment whose first
commits the remote holds, only the rest) in this run's scratch space (removed
afterwards; a killed run's by the next sweep). A segment that compaction
replaced while it was being read is simply left for the next round.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.config_model import RemoteConfig, SourceConfig
from lifeboat.core.history.chain import (
    MANIFEST_SUFFIX,
    SEGMENT_SUFFIX,
    SegmentFile,
    manifest_of_file,
    segment_manifest,
)
from lifeboat.core.history.compaction import join_segments
from lifeboat.core.history.sealing import is_sealed, unsealed_copy
from lifeboat.core.history.segment_read import SegmentDamaged
from lifeboat.core.manifest import AGE_SUFFIX, REMOTE_ENCRYPTION, Sealed, iso_utc, utc_now
from lifeboat.core.private import make_new_dir
from lifeboat.core.remote_keys import object_key
from lifeboat.core.stores import RemoteStore, Stored
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError, NotFound
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.history_claim import history_claimed
from lifeboat.remote.history_plans import (
    HISTORY,
    Batch,
    covered_copies,
    duplicate_copies,
    history_key,
    orphan_candidates,
    orphaned_copies,
    plan_batches,
    sendable,
    snapshot_ids_listed,
)
from lifeboat.remote.open_uploads import CatalogLedger, abort_ended_uploads, ended_open_uploads
from lifeboat.remote.upload import (
    REMOTE_OBJECT,
    SHA_KEY,
    put_checked_file,
    put_sealed_file,
    upload_snapshot,
)

log = logging.getLogger(__name__)


@dataclass
class HistorySent:
    """What one round sent and deleted (segment names), and the bytes sent."""

    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    bytes: int = 0
    #: another uploader held the claim (history_claim.py): this one sent nothing
    claimed_elsewhere: bool = False


def upload_history(
    workspace: Workspace,
    src: SourceConfig,
    remote: RemoteConfig,
    segments: list[SegmentFile],
    cancel: CancelToken,
    patience: float = 0.0,
) -> HistorySent:
    """Send what of `segments` (the effective ones here, in commit order) the remote
    does not hold, then delete there the copies a proven one covers. No request at all
    when there is nothing to do. Only under the claim (history_claim.py): when another
    uploader holds it, wait up to `patience` seconds (0: send nothing this time)."""
    with history_claimed(workspace, src.name, remote.name, patience) as claimed:
        if not claimed:
            return HistorySent(claimed_elsewhere=True)
        return _upload_claimed(workspace, src, remote, segments, cancel)


def _upload_claimed(
    workspace: Workspace,
    src: SourceConfig,
    remote: RemoteConfig,
    segments: list[SegmentFile],
    cancel: CancelToken,
) -> HistorySent:
    catalog = workspace.catalog
    copies = catalog.segment_copies(src.name, remote.name)
    held_bases = bases_held(
        workspace, remote.name, {s.base_id for s in segments} | {c.base_id for c in copies}
    )
    batches = plan_batches(sendable(segments, held_bases), copies)
    left_open = ended_open_uploads(workspace, remote.name)
    sent = HistorySent()
    going = covered_copies(copies) or orphan_candidates(copies, held_bases)
    if not batches and not left_open and not going:
        return sent
    store = workspace.stores.open(remote)
    try:
        if left_open:
            abort_ended_uploads(workspace, remote, store)
        for batch in batches:
            cancel.check()
            _send_base(workspace, store, remote, batch.segments[0].base_id, cancel, sent)
            copy = _send_batch(workspace, store, src, remote, batch, cancel)
            if copy is None:
                break  # replaced here meanwhile: the next round sends its replacement
            catalog.add_segment_copy(copy)
            sent.uploaded.append(copy.name)
            sent.bytes += copy.size
        copies = catalog.segment_copies(src.name, remote.name)
        held_bases = bases_held(workspace, remote.name, {c.base_id for c in copies})
        gone = _bases_gone(store, remote, src.name, orphan_candidates(copies, held_bases))
        doubled = duplicate_copies(copies)
        if doubled:
            log.warning(
                "remote %s held %d history segment(s) of %s twice (two uploaders of an "
                "older Lifeboat sent them at once); the extra copies are removed",
                remote.name,
                len(doubled),
                src.name,
            )
        for copy in covered_copies(copies) + orphaned_copies(copies, gone):
            cancel.check()
            store.delete(copy.manifest_key)
            store.delete(copy.key)
            catalog.remove_segment_copy(copy)
            sent.deleted.append(copy.name)
    finally:
        store.close()
    if sent.uploaded or sent.deleted:
        log.info(
            "history of %s on %s: sent %s, deleted %s (replaced by what was sent)",
            src.name,
            remote.name,
            ", ".join(sent.uploaded) or "nothing",
            ", ".join(sent.deleted) or "nothing",
        )
    return sent


def _bases_gone(
    store: RemoteStore, remote: RemoteConfig, source: str, candidates: set[str]
) -> set[str]:
    """Those of `candidates` (bases this catalog does not know as held there) of which
    the remote lists no object at all: its retention pruned them. One listing, and only
    when there are candidates. A base the catalog merely does not know (a new machine
    before `catalog rebuild`, a manifest from a newer Lifeboat) is still listed: kept."""
    if not candidates:
        return set()
    # List by the bare prefix and keep the source's folder (as remote/scan.py does: a
    # '/' in the query is signed differently by some S3 emulators).
    folder = object_key(remote.prefix, source, HISTORY).removesuffix(HISTORY)
    keys = (o.key for o in store.list_objects(remote.prefix) if o.key.startswith(folder))
    return candidates - snapshot_ids_listed(keys)


def bases_held(workspace: Workspace, remote: str, base_ids: set[str]) -> set[str]:
    """Those of `base_ids` whose snapshot (with its full base, for a differential) the
    remote holds as a proven copy."""
    held = set()
    for base_id in base_ids:
        try:
            record = workspace.catalog.snapshot(base_id)
            full = record.manifest.base if record.manifest.kind == "diff" else None
            records = [record] + ([workspace.catalog.snapshot(str(full))] if full else [])
        except NotFound:
            continue
        if all(r.proven_copy_on(remote) is not None for r in records):
            held.add(base_id)
    return held


def _send_base(
    workspace: Workspace,
    store: RemoteStore,
    remote: RemoteConfig,
    base_id: str,
    cancel: CancelToken,
    sent: HistorySent,
) -> None:
    """The chain's base (and, for a differential, its full base) proven on the remote."""
    record = workspace.catalog.snapshot(base_id)
    if record.manifest.kind == "diff" and record.manifest.base:
        _send_base(workspace, store, remote, record.manifest.base, cancel, sent)
    if record.proven_copy_on(remote.name) is not None:
        return
    recipients = workspace.config().general.recipients
    ledger = CatalogLedger(workspace.catalog, remote.name)
    copy = upload_snapshot(
        store, remote, record, no_progress, cancel, recipients=recipients, ledger=ledger
    )
    workspace.catalog.add_remote_copy(record.id, copy)
    sent.bases.append(record.id)
    log.info("uploaded base snapshot %s of %s to %s", record.id, record.source, remote.name)


def _send_batch(
    workspace: Workspace,
    store: RemoteStore,
    src: SourceConfig,
    remote: RemoteConfig,
    batch: Batch,
    cancel: CancelToken,
) -> SegmentCopy | None:
    """One object from `batch`; None when a segment of it was replaced here meanwhile."""
    segments = batch.segments
    made = None
    try:
        if len(segments) == 1 and batch.after is None and not is_sealed(segments[0].path):
            path = segments[0].path
            manifest = manifest_of_file(path, src.name)
        elif len(segments) == 1 and batch.after is None:  # kept sealed here: sent as the
            made = workspace.run.work_path(workspace.scratch(), "batch")  # remote seals
            make_new_dir(made)
            path = unsealed_copy(segments[0].path, made)
            manifest = manifest_of_file(path, src.name)
        else:
            made = workspace.run.work_path(workspace.scratch(), "batch")
            make_new_dir(made)
            after = None if batch.after is None else (batch.after, bytes.fromhex(batch.previous))
            path, header, written = join_segments(
                made, src.name, segments, workspace.run, after=after
            )
            manifest = segment_manifest(path.name, src.name, header, written, 1)
        last_us = segments[-1].last_time_us
        # kept sealed here: sealed there too, whatever the remote's setting (as a sealed
        # snapshot goes up as it is); the plain copy above lives in the scratch only
        seal = remote.encrypt or src.encrypt_local or any(is_sealed(s.path) for s in segments)
        return _put_segment(workspace, store, src, remote, (path, seal), manifest, last_us, cancel)
    except (FileNotFoundError, SegmentDamaged, LifeboatError) as exc:
        if all(s.path.exists() for s in segments):
            raise _unreadable(segments, exc) from None
        return None
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _unreadable(segments: list[SegmentFile], exc: Exception) -> LifeboatError:
    if isinstance(exc, LifeboatError):
        return exc
    return CorruptSnapshot(
        f"history segment {segments[0].path.name} cannot be read to be uploaded: {exc}",
        "run `lifeboat verify`",
    )


def _put_segment(
    workspace: Workspace,
    store: RemoteStore,
    src: SourceConfig,
    remote: RemoteConfig,
    sent: tuple[Path, bool],
    manifest: dict[str, object],
    last_us: int,
    cancel: CancelToken,
) -> SegmentCopy:
    """`sent`: the plain segment file, and whether it goes up sealed."""
    path, seal = sent
    name = path.name
    sha256, size = str(manifest["sha256"]), int(str(manifest["size"]))
    ledger = CatalogLedger(workspace.catalog, remote.name)
    meta = {SHA_KEY: sha256, "lifeboat-segment": name}
    damaged = CorruptSnapshot(
        f"history segment {name} of {src.name} changed on disk; not uploaded",
        "run `lifeboat verify`",
    )
    key = history_key(remote.prefix, src.name, name)
    if seal:
        recipients = workspace.config().general.recipients
        if not recipients:
            raise LifeboatError(
                f"the history of {src.name} goes to {remote.name} sealed, but there is no key",
                "create one: lifeboat key init",
            )
        key += AGE_SUFFIX
        stored = put_sealed_file(
            store, key, path, sha256, size, recipients, meta, no_progress, cancel, ledger, damaged
        )
        sealed = Sealed(
            tuple(recipients), stored.size, stored.sha256, object_name=name + AGE_SUFFIX
        )
        manifest = {**manifest, REMOTE_ENCRYPTION: sealed.to_json()}
    else:
        stored = put_checked_file(
            store, key, path, sha256, meta, no_progress, cancel, ledger, damaged
        )
    mkey = _put_manifest(store, remote, src.name, name, manifest, stored)
    return SegmentCopy(
        remote=remote.name,
        source=src.name,
        name=name,
        base_id=str(manifest["base"]),
        level=int(str(manifest["level"])),
        first_seq=int(str(manifest["first_commit_seq"])),
        last_seq=int(str(manifest["last_commit_seq"])),
        last_time_us=last_us,
        end_digest=str(manifest["end_state_digest"]),
        key=key,
        manifest_key=mkey,
        size=stored.size,
        sha256=stored.sha256,
        encrypted=seal,
        uploaded_at=iso_utc(utc_now()),
    )


def _put_manifest(
    store: RemoteStore,
    remote: RemoteConfig,
    source: str,
    name: str,
    manifest: dict[str, object],
    stored: Stored,
) -> str:
    record = {"size": stored.size, "etag": stored.etag, "part_size": stored.part_size}
    body = (
        json.dumps({**manifest, REMOTE_OBJECT: record}, indent=2, sort_keys=True) + "\n"
    ).encode()
    mkey = history_key(remote.prefix, source, name.removesuffix(SEGMENT_SUFFIX) + MANIFEST_SUFFIX)
    store.put_bytes(mkey, body, metadata={"lifeboat-segment": name})
    return mkey
