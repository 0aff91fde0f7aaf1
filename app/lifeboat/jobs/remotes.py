"""Moving snapshots to and from remote stores: upload (confirmed), fetch, remote pruning."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog import RemoteCopy, SnapshotRecord
from lifeboat.core.config import RemoteConfig
from lifeboat.core.encrypt_stream import EncryptingReader
from lifeboat.core.encryption import decrypt_file, stored_identities
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    MANIFEST_SUFFIX,
    Manifest,
    ManifestError,
    iso_utc,
    utc_now,
)
from lifeboat.core.private import make_new_dir, private_dir
from lifeboat.core.progress import CancelToken, Progress
from lifeboat.core.remote_keys import object_key, split_key
from lifeboat.core.retention import Decision, RetentionPolicy, apply_policy
from lifeboat.core.secrets import S3Credentials, SecretStore, load_s3_credentials
from lifeboat.errors import CorruptSnapshot, LifeboatError, MissingArtifact
from lifeboat.jobs.prune import snapshot_info
from lifeboat.storage.base import ObjectInfo, RemoteStore, Stored, UploadLedger
from lifeboat.workspace import Workspace

log = logging.getLogger(__name__)
SHA_KEY = "lifeboat-sha256"  # metadata for people; never what proves a copy
PLAIN_SHA_KEY = "lifeboat-plain-sha256"  # on an encrypted object: the artifact's
REMOTE_OBJECT = "remote_object"  # manifest key, on a remote: the object as uploaded


def open_store(
    remote: RemoteConfig,
    secrets: SecretStore | None = None,
    *,
    credentials: S3Credentials | None = None,
) -> RemoteStore:
    """A connected store for `remote` (credentials from the keyring or the environment,
    unless given: a remote being tested before it is saved)."""
    from lifeboat.storage.s3 import S3Store

    creds = None
    if remote.credentials == "keyring":
        creds = credentials or load_s3_credentials(secrets or SecretStore(), remote.name)
    return S3Store(remote, creds)


def artifact_key(remote: RemoteConfig, manifest: Manifest) -> str:
    return object_key(remote.prefix, manifest.source, manifest.artifact)


def manifest_key(remote: RemoteConfig, manifest: Manifest) -> str:
    return object_key(remote.prefix, manifest.source, manifest.manifest_name)


def upload_snapshot(
    store: RemoteStore,
    remote: RemoteConfig,
    record: SnapshotRecord,
    progress: Progress,
    cancel: CancelToken,
    *,
    recipients: list[str] | None = None,
    ledger: UploadLedger | None = None,
) -> RemoteCopy:
    """Upload a snapshot's artifact (encrypted with age if the remote asks for it), then
    its manifest. Each counts only once the server is proven to hold exactly the bytes
    sent (see storage/s3_upload.py); the manifest records the object's size and ETag."""
    sealed = record.manifest.local_encryption
    if sealed is not None:
        # Kept encrypted here: that file goes up as it is, whatever the remote's setting.
        return _upload_sealed_file(store, remote, record, sealed, progress, cancel, ledger)
    if remote.encrypt:
        if not recipients:
            raise LifeboatError(
                f"remote {remote.name} encrypts, but there is no key",
                "create one: lifeboat key init",
            )
        return _upload_encrypted(store, remote, record, progress, cancel, recipients, ledger)
    manifest = record.manifest
    key = artifact_key(remote, manifest)
    stored = _put_checked_file(store, key, record, manifest.sha256, progress, cancel, ledger)
    mkey = _put_manifest(store, remote, with_remote_object(manifest, stored))
    return RemoteCopy(remote.name, key, mkey, stored.size, stored.sha256, False, iso_utc(utc_now()))


def _put_checked_file(
    store: RemoteStore,
    key: str,
    record: SnapshotRecord,
    sha256: str,
    progress: Progress,
    cancel: CancelToken,
    ledger: UploadLedger | None,
) -> Stored:
    """Upload the record's file; the bytes read on the way must hash to `sha256` before
    the object is written, so a file damaged on disk never becomes a copy."""
    meta = {SHA_KEY: sha256, "lifeboat-snapshot": record.id}

    def check(sent: str) -> None:
        if sent != sha256:
            raise _damaged(record.manifest)

    return store.put_file(
        key,
        record.path,
        metadata=meta,
        progress=progress,
        cancel=cancel,
        ledger=ledger,
        check=check,
    )


def _upload_sealed_file(
    store: RemoteStore,
    remote: RemoteConfig,
    record: SnapshotRecord,
    sealed: dict[str, object],
    progress: Progress,
    cancel: CancelToken,
    ledger: UploadLedger | None,
) -> RemoteCopy:
    manifest = record.manifest
    key = artifact_key(remote, manifest) + AGE_SUFFIX
    sha256 = str(sealed["sha256"])
    stored = _put_checked_file(store, key, record, sha256, progress, cancel, ledger)
    public = remote_manifest(manifest, stored.size, sha256, manifest.local_recipients)
    mkey = _put_manifest(store, remote, with_remote_object(public, stored))
    return RemoteCopy(remote.name, key, mkey, stored.size, sha256, True, iso_utc(utc_now()))


def _upload_encrypted(
    store: RemoteStore,
    remote: RemoteConfig,
    record: SnapshotRecord,
    progress: Progress,
    cancel: CancelToken,
    recipients: list[str],
    ledger: UploadLedger | None,
) -> RemoteCopy:
    """Encrypt while uploading (the ciphertext is never written locally and the plaintext
    never goes anywhere new), then the remote manifest without database details.

    The ciphertext's SHA-256 is known only at the end, so the object's metadata carries
    the plaintext artifact's (known in advance); the ciphertext's goes into the manifest.
    """
    manifest = record.manifest
    key = artifact_key(remote, manifest) + AGE_SUFFIX
    meta = {PLAIN_SHA_KEY: manifest.sha256, "lifeboat-snapshot": manifest.id}
    with EncryptingReader(record.path, recipients) as stream:

        def check(_: str) -> None:  # the stream has been read to its end by now
            if stream.result().plain_sha256 != manifest.sha256:
                raise _damaged(manifest)

        stored = store.put_stream(
            key,
            stream,
            size_hint=manifest.size,
            metadata=meta,
            progress=progress,
            cancel=cancel,
            ledger=ledger,
            check=check,
        )
    public = remote_manifest(manifest, stored.size, stored.sha256, recipients)
    mkey = _put_manifest(store, remote, with_remote_object(public, stored))
    return RemoteCopy(remote.name, key, mkey, stored.size, stored.sha256, True, iso_utc(utc_now()))


def remote_manifest(manifest: Manifest, size: int, sha256: str, recipients: list[str]) -> Manifest:
    """What an encrypted copy's manifest may say: enough to list and restore, nothing
    from inside the database (no row counts, schema hash or source path)."""
    extra = {
        "encryption": {
            "scheme": "age",
            "recipients": list(recipients),
            "object": manifest.artifact + AGE_SUFFIX,
            "size": size,
            "sha256": sha256,
        }
    }
    return replace(manifest, source_path="", tables=None, schema_sha256=None, extra=extra)


def with_remote_object(manifest: Manifest, stored: Stored) -> Manifest:
    """The manifest as it goes to the remote: with the object as the server holds it
    (size, ETag), so a later scan notices an object replaced or cut short."""
    record = {"size": stored.size, "etag": stored.etag, "part_size": stored.part_size}
    return replace(manifest, extra={**manifest.extra, REMOTE_OBJECT: record})


def _put_manifest(store: RemoteStore, remote: RemoteConfig, manifest: Manifest) -> str:
    body = manifest.to_json()
    body_sha = hashlib.sha256(body).hexdigest()
    mkey = manifest_key(remote, manifest)
    store.put_bytes(mkey, body, metadata={SHA_KEY: body_sha, "lifeboat-snapshot": manifest.id})
    return mkey


def _damaged(manifest: Manifest) -> CorruptSnapshot:
    return CorruptSnapshot(
        f"snapshot {manifest.id} is damaged on disk; not uploaded",
        "run `lifeboat verify` and take a new snapshot",
    )


def fetch_artifact(
    workspace: Workspace,
    record: SnapshotRecord,
    dest_dir: Path,
    progress: Progress,
    cancel: CancelToken,
) -> Path:
    """Download a snapshot's artifact into `dest_dir` (named as in its manifest)."""
    config = workspace.config()
    copies = sorted(record.copies, key=lambda c: c.remote != _preferred(config, record))
    usable = [c for c in copies if c.remote in config.remotes]
    if not usable:
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
    store = open_store(remote)
    try:
        store.get_file(copy.key, download, progress=progress, cancel=cancel)
    finally:
        store.close()
    if copy.encrypted:
        try:
            decrypt_file(
                download,
                target,
                stored_identities(SecretStore()),
                f"the copy of snapshot {record.id} on remote {remote.name}",
                workspace.config().general.recipients,
            )
        finally:
            download.unlink(missing_ok=True)
    return dest_dir


def _preferred(config: object, record: SnapshotRecord) -> str | None:
    src = getattr(config, "sources", {}).get(record.source)
    return src.remote if src is not None else None


def plan_uploads(
    records: list[SnapshotRecord], remote: str, policy: RetentionPolicy, now: datetime
) -> list[SnapshotRecord]:
    """Local snapshots missing on `remote` that its retention would keep, oldest first."""
    present = [r for r in records if r.copy_on(remote) is not None]
    candidates = [
        r
        for r in records
        if r.copy_on(remote) is None and r.status == "ok" and r.manifest.kind != "raw"
    ]
    infos = [snapshot_info(r, assume_good=True) for r in present] + [
        snapshot_info(r) for r in candidates
    ]
    keep = {d.snapshot.id for d in apply_policy(infos, policy, now) if d.keep}
    wanted = {r.id: r for r in candidates if r.id in keep}
    on_remote = {r.id for r in present}
    by_id = {r.id: r for r in records}
    for record in list(wanted.values()):  # a differential goes up only with its base
        base = record.manifest.base
        if record.manifest.kind != "diff" or base in on_remote or base in wanted:
            continue
        base_record = by_id.get(str(base))
        if base_record is not None and base_record.status == "ok":
            wanted[base_record.id] = base_record
        else:
            log.warning(
                "snapshot %s is not uploaded: its base %s is not here to go first", record.id, base
            )
            del wanted[record.id]
    return sorted(
        wanted.values(), key=lambda r: (r.manifest.kind != "full", r.manifest.created_at, r.id)
    )


def plan_remote_prune(
    records: list[SnapshotRecord], remote: str, policy: RetentionPolicy, now: datetime
) -> list[Decision]:
    present = [r for r in records if r.copy_on(remote) is not None]
    return apply_policy([snapshot_info(r, assume_good=True) for r in present], policy, now)


def delete_remote_copy(
    store: RemoteStore, workspace: Workspace, record: SnapshotRecord, remote: str
) -> None:
    """Manifest first (it is what makes a snapshot), then the artifact, then the row."""
    copy = record.copy_on(remote)
    if copy is None:
        return
    store.delete(copy.manifest_key)
    store.delete(copy.key)
    workspace.catalog.remove_remote_copy(record.id, remote)


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
                stored_identities(SecretStore()),
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


@dataclass
class RemoteScan:
    remote: str
    found: list[tuple[Manifest, RemoteCopy]] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # manifests without their artifact
    unreadable: list[str] = field(default_factory=list)
    #: "KEY (why)": objects that differ from their manifest; not counted, never deleted
    mismatched: list[str] = field(default_factory=list)


def scan_remote(remote: RemoteConfig, secrets: SecretStore | None = None) -> RemoteScan:
    """Read every manifest under the remote's prefix (the remote's own truth). A copy
    counts only if its object has the size its manifest says and, where the manifest
    recorded it at upload, the same ETag."""
    scan = RemoteScan(remote.name)
    store = open_store(remote, secrets)
    try:
        # List by the bare prefix and keep our folder's keys: the same result, and it
        # avoids a '/' in the query (some S3 emulators sign it differently).
        listed = {
            o.key: o
            for o in store.list(remote.prefix)
            if not remote.prefix or o.key.startswith(remote.prefix + "/")
        }
        for key in sorted(listed):
            parts = split_key(remote.prefix, key)
            if parts is None or not key.endswith(MANIFEST_SUFFIX):
                continue
            try:
                manifest = Manifest.from_dict(json.loads(store.get_bytes(key)))
            except (ValueError, ManifestError) as exc:
                scan.unreadable.append(f"{key}: {exc}")
                continue
            sealed = manifest.extra.get("encryption")
            artifact = object_key(remote.prefix, manifest.source, manifest.artifact)
            if isinstance(sealed, dict):
                artifact += AGE_SUFFIX
            obj = listed.get(artifact)
            if manifest.manifest_name != parts[1] or obj is None:
                scan.incomplete.append(key)
                continue
            why = object_differs(manifest, obj)
            if why is not None:
                scan.mismatched.append(f"{artifact} ({why})")
                continue
            sha = str(sealed["sha256"]) if isinstance(sealed, dict) else manifest.sha256
            scan.found.append(
                (
                    manifest,
                    RemoteCopy(
                        remote.name,
                        artifact,
                        key,
                        obj.size,
                        sha,
                        isinstance(sealed, dict),
                        iso_utc(utc_now()),
                    ),
                )
            )
    finally:
        store.close()
    return scan


def object_differs(manifest: Manifest, obj: ObjectInfo) -> str | None:
    """Why the listed object is not the one its (remote) manifest describes, or None."""
    sealed = manifest.extra.get("encryption")
    try:
        size = int(sealed["size"]) if isinstance(sealed, dict) else manifest.size  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return "its manifest does not say its size"
    if obj.size != size:
        return f"{obj.size} bytes, its manifest says {size}"
    recorded = manifest.extra.get(REMOTE_OBJECT)
    etag = str(recorded.get("etag") or "") if isinstance(recorded, dict) else ""
    if etag and obj.etag and obj.etag != etag:
        return f"ETag {obj.etag}, not the {etag} it had when uploaded: replaced or changed"
    return None


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
    downloaded from a remote where not (temporary copies removed afterwards)."""
    with artifact_folder(workspace, record, progress, cancel) as folder:
        if record.manifest.kind != "diff":
            yield SnapshotFiles(folder, record.manifest)
            return
        base_id = str(record.manifest.base)
        try:
            base = workspace.catalog.snapshot(base_id)
        except LifeboatError:
            raise MissingArtifact(
                f"snapshot {record.id} is a differential of {base_id}, which is gone",
                "use another snapshot",
            ) from None
        with artifact_folder(workspace, base, progress, cancel) as base_folder:
            yield SnapshotFiles(folder, record.manifest, (base_folder, base.manifest))
