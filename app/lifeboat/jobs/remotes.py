"""Moving snapshots to and from remote stores: upload (confirmed), fetch, remote pruning."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from lifeboat.errors import CorruptSnapshot, LifeboatError, MissingArtifact, RemoteError
from lifeboat.jobs.prune import snapshot_info
from lifeboat.storage.base import ObjectInfo, RemoteStore
from lifeboat.workspace import Workspace

log = logging.getLogger(__name__)
SHA_KEY = "lifeboat-sha256"
PLAIN_SHA_KEY = "lifeboat-plain-sha256"  # on an encrypted object: the artifact's


def open_store(remote: RemoteConfig, secrets: SecretStore | None = None, *,
               credentials: S3Credentials | None = None) -> RemoteStore:
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


def upload_snapshot(store: RemoteStore, remote: RemoteConfig, record: SnapshotRecord,
                    progress: Progress, cancel: CancelToken, *,
                    recipients: list[str] | None = None) -> RemoteCopy:
    """Upload a snapshot's artifact (encrypted with age if the remote asks for it), then
    its manifest, each confirmed by a HEAD before it counts."""
    sealed = record.manifest.local_encryption
    if sealed is not None:
        # Kept encrypted here: that file goes up as it is, whatever the remote's setting.
        return _upload_sealed_file(store, remote, record, sealed, progress, cancel)
    if remote.encrypt:
        if not recipients:
            raise LifeboatError(f"remote {remote.name} encrypts, but there is no key",
                                "create one: lifeboat key init")
        return _upload_encrypted(store, remote, record, progress, cancel, recipients)
    manifest = record.manifest
    key = artifact_key(remote, manifest)
    _put_checked_file(store, key, record, manifest.size, manifest.sha256, progress, cancel)
    mkey = _put_manifest(store, remote, manifest)
    return RemoteCopy(remote.name, key, mkey, manifest.size, manifest.sha256, False,
                      iso_utc(utc_now()))


def _put_checked_file(store: RemoteStore, key: str, record: SnapshotRecord, size: int,
                      sha256: str, progress: Progress, cancel: CancelToken) -> None:
    """Upload the record's file; it counts only if it hashed to `sha256` on the way and
    the remote then reports it whole."""
    meta = {SHA_KEY: sha256, "lifeboat-snapshot": record.id}
    # Re-hash the file while it goes up, so a file damaged on disk never counts as a copy.
    with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-hash") as pool:
        hashing = pool.submit(_sha256, record.path)
        store.put_file(key, record.path, metadata=meta, progress=progress, cancel=cancel)
        if hashing.result() != sha256:
            store.delete(key)
            raise _damaged(record.manifest)
    _confirm(store, key, size, sha256)


def _upload_sealed_file(store: RemoteStore, remote: RemoteConfig, record: SnapshotRecord,
                        sealed: dict[str, object], progress: Progress, cancel: CancelToken
                        ) -> RemoteCopy:
    manifest = record.manifest
    key = artifact_key(remote, manifest) + AGE_SUFFIX
    size, sha256 = int(sealed["size"]), str(sealed["sha256"])  # type: ignore[call-overload]
    _put_checked_file(store, key, record, size, sha256, progress, cancel)
    mkey = _put_manifest(store, remote, remote_manifest(manifest, size, sha256,
                                                        manifest.local_recipients))
    return RemoteCopy(remote.name, key, mkey, size, sha256, True, iso_utc(utc_now()))


def _upload_encrypted(store: RemoteStore, remote: RemoteConfig, record: SnapshotRecord,
                      progress: Progress, cancel: CancelToken, recipients: list[str]
                      ) -> RemoteCopy:
    """Encrypt while uploading (the ciphertext is never written locally and the plaintext
    never goes anywhere new), confirm, then the remote manifest without database details.

    The ciphertext's SHA-256 is known only at the end, so the object's metadata carries
    the plaintext artifact's (known in advance); the ciphertext's goes into the manifest.
    """
    manifest = record.manifest
    key = artifact_key(remote, manifest) + AGE_SUFFIX
    meta = {PLAIN_SHA_KEY: manifest.sha256, "lifeboat-snapshot": manifest.id}
    with EncryptingReader(record.path, recipients) as stream:
        store.put_stream(key, stream, size_hint=manifest.size, metadata=meta,
                         progress=progress, cancel=cancel)
        sealed = stream.result()
    if sealed.plain_sha256 != manifest.sha256:
        store.delete(key)
        raise _damaged(manifest)
    info = store.head(key)
    if info is None or info.size != sealed.size or info.metadata.get(PLAIN_SHA_KEY) != \
            manifest.sha256:
        _not_arrived(store, key, info, sealed.size)
    public = remote_manifest(manifest, sealed.size, sealed.sha256, recipients)
    mkey = _put_manifest(store, remote, public)
    return RemoteCopy(remote.name, key, mkey, sealed.size, sealed.sha256, True,
                      iso_utc(utc_now()))


def remote_manifest(manifest: Manifest, size: int, sha256: str, recipients: list[str]
                    ) -> Manifest:
    """What an encrypted copy's manifest may say: enough to list and restore, nothing
    from inside the database (no row counts, schema hash or source path)."""
    extra = {"encryption": {"scheme": "age", "recipients": list(recipients),
                            "object": manifest.artifact + AGE_SUFFIX, "size": size,
                            "sha256": sha256}}
    return replace(manifest, source_path="", tables=None, schema_sha256=None, extra=extra)


def _put_manifest(store: RemoteStore, remote: RemoteConfig, manifest: Manifest) -> str:
    body = manifest.to_json()
    body_sha = hashlib.sha256(body).hexdigest()
    mkey = manifest_key(remote, manifest)
    store.put_bytes(mkey, body, metadata={SHA_KEY: body_sha, "lifeboat-snapshot": manifest.id})
    _confirm(store, mkey, len(body), body_sha)
    return mkey


def _damaged(manifest: Manifest) -> CorruptSnapshot:
    return CorruptSnapshot(f"snapshot {manifest.id} is damaged on disk; not uploaded",
                           "run `lifeboat verify` and take a new snapshot")


def _confirm(store: RemoteStore, key: str, size: int, sha256: str) -> None:
    info = store.head(key)
    if info is None or info.size != size or info.metadata.get(SHA_KEY) != sha256:
        _not_arrived(store, key, info, size)


def _not_arrived(store: RemoteStore, key: str, info: ObjectInfo | None, size: int) -> None:
    got = "nothing" if info is None else f"{info.size} bytes"
    raise RemoteError(f"{key} did not arrive whole on remote {store.name} (found {got}, "
                      f"sent {size} bytes)", "the upload is retried later")


def fetch_artifact(workspace: Workspace, record: SnapshotRecord, dest_dir: Path,
                   progress: Progress, cancel: CancelToken) -> Path:
    """Download a snapshot's artifact into `dest_dir` (named as in its manifest)."""
    config = workspace.config()
    copies = sorted(record.copies, key=lambda c: c.remote != _preferred(config, record))
    usable = [c for c in copies if c.remote in config.remotes]
    if not usable:
        where = ", ".join(c.remote for c in record.copies) or "no remote"
        raise LifeboatError(f"snapshot {record.id} has no local file, and its remote copies "
                            f"({where}) are not on a configured remote",
                            "add the remote again (lifeboat remote add) or restore another "
                            "snapshot")
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
            decrypt_file(download, target, stored_identities(SecretStore()),
                         f"the copy of snapshot {record.id} on remote {remote.name}",
                         workspace.config().general.recipients)
        finally:
            download.unlink(missing_ok=True)
    return dest_dir


def _preferred(config: object, record: SnapshotRecord) -> str | None:
    src = getattr(config, "sources", {}).get(record.source)
    return src.remote if src is not None else None


def plan_uploads(records: list[SnapshotRecord], remote: str, policy: RetentionPolicy,
                 now: datetime) -> list[SnapshotRecord]:
    """Local snapshots missing on `remote` that its retention would keep, oldest first."""
    present = [r for r in records if r.copy_on(remote) is not None]
    candidates = [r for r in records if r.copy_on(remote) is None and r.status == "ok"
                  and r.manifest.kind != "raw"]
    infos = [snapshot_info(r, assume_good=True) for r in present] + \
        [snapshot_info(r) for r in candidates]
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
            log.warning("snapshot %s is not uploaded: its base %s is not here to go first",
                        record.id, base)
            del wanted[record.id]
    return sorted(wanted.values(), key=lambda r: (r.manifest.kind != "full",
                                                   r.manifest.created_at, r.id))


def plan_remote_prune(records: list[SnapshotRecord], remote: str, policy: RetentionPolicy,
                      now: datetime) -> list[Decision]:
    present = [r for r in records if r.copy_on(remote) is not None]
    return apply_policy([snapshot_info(r, assume_good=True) for r in present], policy, now)


def delete_remote_copy(store: RemoteStore, workspace: Workspace, record: SnapshotRecord,
                       remote: str) -> None:
    """Manifest first (it is what makes a snapshot), then the artifact, then the row."""
    copy = record.copy_on(remote)
    if copy is None:
        return
    store.delete(copy.manifest_key)
    store.delete(copy.key)
    workspace.catalog.remove_remote_copy(record.id, remote)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def artifact_folder(workspace: Workspace, record: SnapshotRecord, progress: Progress,
                    cancel: CancelToken) -> Iterator[Path]:
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
            decrypt_file(record.path, scratch / record.manifest.artifact,
                         stored_identities(SecretStore()),
                         f"snapshot {record.id} (kept encrypted on this machine)",
                         record.manifest.local_recipients)
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    if not record.copies:
        what = "a base" if record.manifest.kind == "full" else "a snapshot"
        raise MissingArtifact(f"snapshot {record.id} ({what}): its file {record.path} is "
                              "missing and it has no remote copy", "use another snapshot")
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


def scan_remote(remote: RemoteConfig, secrets: SecretStore | None = None) -> RemoteScan:
    """Read every manifest under the remote's prefix (the remote's own truth)."""
    scan = RemoteScan(remote.name)
    store = open_store(remote, secrets)
    try:
        # List by the bare prefix and keep our folder's keys: the same result, and it
        # avoids a '/' in the query (some S3 emulators sign it differently).
        listed = {o.key: o for o in store.list(remote.prefix)
                  if not remote.prefix or o.key.startswith(remote.prefix + "/")}
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
            sha = str(sealed["sha256"]) if isinstance(sealed, dict) else manifest.sha256
            scan.found.append((manifest, RemoteCopy(
                remote.name, artifact, key, obj.size, sha, isinstance(sealed, dict),
                iso_utc(utc_now()))))
    finally:
        store.close()
    return scan


@dataclass(frozen=True)
class SnapshotFiles:
    """Where to read a snapshot (and, for a differential, its base) from."""

    folder: Path
    manifest: Manifest
    base: tuple[Path, Manifest] | None = None


@contextlib.contextmanager
def snapshot_files(workspace: Workspace, record: SnapshotRecord, progress: Progress,
                   cancel: CancelToken) -> Iterator[SnapshotFiles]:
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
            raise MissingArtifact(f"snapshot {record.id} is a differential of {base_id}, "
                                  "which is gone", "use another snapshot") from None
        with artifact_folder(workspace, base, progress, cancel) as base_folder:
            yield SnapshotFiles(folder, record.manifest, (base_folder, base.manifest))
