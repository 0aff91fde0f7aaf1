"""Proving remote copies that were recorded without proof (adopted by a catalog rebuild
from a manifest an older Lifeboat wrote, or from a listing without ETags; or recorded
before copies were proven at all): by the ETag a proven upload recorded, else by
reading the object back and hashing what the server returns.

Nothing here deletes or overwrites anything on the remote: a copy that is not what its
manifest says is only recorded as such (kept, not counted)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from lifeboat.core.catalog_records import RemoteCopy, SnapshotRecord
from lifeboat.core.manifest import Manifest, ManifestError
from lifeboat.core.stores import ObjectInfo, RemoteStore
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.remote.scan import proven_by_etag


@dataclass(frozen=True)
class Proof:
    """What proving one copy found: `failed` is None when it is proven."""

    record: SnapshotRecord
    copy: RemoteCopy
    how: str  # "etag", "read-back", or "" when it failed
    failed: str | None = None
    read: int = 0  # bytes read back


def to_prove(records: list[SnapshotRecord], remote: str) -> list[tuple[SnapshotRecord, RemoteCopy]]:
    """The copies on `remote` not proven yet, oldest first (a copy whose proof failed is
    not tried again: a catalog rebuild records it afresh)."""
    found = []
    for record in records:
        copy = record.copy_on(remote)
        if copy is not None and not copy.proven and copy.proof_failed is None:
            found.append((record, copy))
    return sorted(found, key=lambda pair: (pair[0].manifest.created_at, pair[0].id))


def prove_copy(
    store: RemoteStore,
    record: SnapshotRecord,
    copy: RemoteCopy,
    progress: Progress,
    cancel: CancelToken,
) -> Proof:
    """Prove that the server holds exactly the copy's bytes: the SHA-256 of the artifact
    (of the ciphertext for an encrypted copy, as its manifest recorded it). A failure to
    reach the server raises (nothing is recorded then); a proof that fails is returned."""
    expected = copy.sha256 if copy.encrypted else record.manifest.sha256
    if not copy.encrypted and copy.sha256 != expected:
        return Proof(record, copy, "", "its remote manifest describes other bytes")
    info = store.head(copy.key)
    if info is None:
        return Proof(record, copy, "", "it is not on the remote")
    if info.size != copy.size:
        return Proof(record, copy, "", f"{info.size} bytes, its manifest says {copy.size}")
    if _etag_proves(store, copy, info):
        return Proof(record, copy, "etag")
    try:
        size, sha256 = store.read_back(copy.key, progress=progress, cancel=cancel)
    except LifeboatError as exc:
        if getattr(exc, "not_found", False):
            return Proof(record, copy, "", "it is not on the remote")
        raise
    if size != copy.size or sha256 != expected:
        return Proof(
            record,
            copy,
            "",
            "read back, the server's bytes hash differently from its manifest's SHA-256",
            size,
        )
    return Proof(record, copy, "read-back", None, size)


def _etag_proves(store: RemoteStore, copy: RemoteCopy, info: ObjectInfo) -> bool:
    """The copy's remote manifest describes exactly this copy and recorded, when a proven
    upload wrote it, the ETag the object still has."""
    try:
        manifest = Manifest.from_dict(json.loads(store.get_bytes(copy.manifest_key)))
    except (LifeboatError, ValueError, ManifestError):
        return False  # not there, unreadable: reading the object back will tell
    sealed = manifest.remote_encryption
    described = sealed.sha256 if sealed else manifest.sha256
    return described == copy.sha256 and proven_by_etag(manifest, info)
