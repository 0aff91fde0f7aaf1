"""Uploading a snapshot so that the copy counts only when proven: the artifact
(encrypted with age where asked) and then its manifest, each confirmed byte-exact."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from lifeboat.core.catalog_records import RemoteCopy, SnapshotRecord
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.encrypt_stream import EncryptingReader
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    REMOTE_ENCRYPTION,
    Manifest,
    Sealed,
    iso_utc,
    utc_now,
)
from lifeboat.core.remote_keys import object_key
from lifeboat.core.stores import RemoteStore, Stored, UploadLedger
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress

SHA_KEY = "lifeboat-sha256"  # metadata for people; never what proves a copy


PLAIN_SHA_KEY = "lifeboat-plain-sha256"  # on an encrypted object: the artifact's


REMOTE_OBJECT = "remote_object"  # manifest key, on a remote: the object as uploaded


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
    its manifest. Each counts only once the store is proven to hold exactly the bytes
    sent (each store proves its own: see core/stores.py); the manifest records the
    object's size and ETag."""
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
    meta = {SHA_KEY: sha256, "lifeboat-snapshot": record.id}
    damaged = _damaged(record.manifest)
    return put_checked_file(
        store, key, record.path, sha256, meta, progress, cancel, ledger, damaged
    )


def put_checked_file(
    store: RemoteStore,
    key: str,
    path: Path,
    sha256: str,
    meta: dict[str, str],
    progress: Progress,
    cancel: CancelToken,
    ledger: UploadLedger | None,
    damaged: LifeboatError,
) -> Stored:
    """Upload the file at `path` as it is; the bytes read on the way must hash to
    `sha256` before the object is written (else `damaged` is raised), so a file damaged
    on disk never becomes a copy."""

    def check(sent: str) -> None:
        if sent != sha256:
            raise damaged

    return store.put_file(
        key, path, metadata=meta, progress=progress, cancel=cancel, ledger=ledger, check=check
    )


def _upload_sealed_file(
    store: RemoteStore,
    remote: RemoteConfig,
    record: SnapshotRecord,
    sealed: Sealed,
    progress: Progress,
    cancel: CancelToken,
    ledger: UploadLedger | None,
) -> RemoteCopy:
    manifest = record.manifest
    key = artifact_key(remote, manifest) + AGE_SUFFIX
    sha256 = sealed.sha256
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
    stored = put_sealed_file(
        store,
        key,
        record.path,
        manifest.sha256,
        manifest.size,
        recipients,
        meta,
        progress,
        cancel,
        ledger,
        _damaged(manifest),
    )
    public = remote_manifest(manifest, stored.size, stored.sha256, recipients)
    mkey = _put_manifest(store, remote, with_remote_object(public, stored))
    return RemoteCopy(remote.name, key, mkey, stored.size, stored.sha256, True, iso_utc(utc_now()))


def put_sealed_file(
    store: RemoteStore,
    key: str,
    path: Path,
    plain_sha256: str,
    size_hint: int,
    recipients: list[str],
    meta: dict[str, str],
    progress: Progress,
    cancel: CancelToken,
    ledger: UploadLedger | None,
    damaged: LifeboatError,
) -> Stored:
    """Upload the age ciphertext of the file at `path`, encrypted while it is sent (never
    written locally); the plaintext read must hash to `plain_sha256` before the object
    is written (else `damaged` is raised). The `Stored` hash is the ciphertext's."""
    with EncryptingReader(path, recipients) as stream:

        def check(_: str) -> None:  # the stream has been read to its end by now
            if stream.result().plain_sha256 != plain_sha256:
                raise damaged

        return store.put_stream(
            key,
            stream,
            size_hint=size_hint,
            metadata=meta,
            progress=progress,
            cancel=cancel,
            ledger=ledger,
            check=check,
        )


def remote_manifest(manifest: Manifest, size: int, sha256: str, recipients: list[str]) -> Manifest:
    """What an encrypted copy's manifest may say: enough to list and restore, nothing
    from inside the database (no row counts, schema hash or source path)."""
    sealed = Sealed(tuple(recipients), size, sha256, object_name=manifest.artifact + AGE_SUFFIX)
    extra: dict[str, object] = {REMOTE_ENCRYPTION: sealed.to_json()}
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
