"""Reading what a remote holds from its manifests, counting only objects that
match them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lifeboat.core.catalog_records import RemoteCopy
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.manifest import (
    AGE_SUFFIX,
    MANIFEST_SUFFIX,
    Manifest,
    ManifestError,
    iso_utc,
    utc_now,
)
from lifeboat.core.remote_keys import object_key, split_key
from lifeboat.core.stores import ObjectInfo, StoreOpener
from lifeboat.remote.upload import REMOTE_OBJECT


@dataclass
class RemoteScan:
    remote: str
    found: list[tuple[Manifest, RemoteCopy]] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # manifests without their artifact
    unreadable: list[str] = field(default_factory=list)
    #: "KEY (why)": objects that differ from their manifest; not counted, never deleted
    mismatched: list[str] = field(default_factory=list)


def scan_remote(remote: RemoteConfig, stores: StoreOpener) -> RemoteScan:
    """Read every manifest under the remote's prefix (the remote's own truth). An object
    that differs from its manifest (its size, or the ETag recorded at upload) is not
    adopted. One that does not differ is adopted as proven only if it has the ETag the
    proven upload recorded; else (a manifest without that record, from an older
    Lifeboat, or a listing without ETags) as unproven: it does not count until the next
    upload job has read it back."""
    scan = RemoteScan(remote.name)
    store = stores.open(remote)
    try:
        # List by the bare prefix and keep our folder's keys: the same result, and it
        # avoids a '/' in the query (some S3 emulators sign it differently).
        listed = {
            o.key: o
            for o in store.list_objects(remote.prefix)
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
            sealed = manifest.remote_encryption
            artifact = object_key(remote.prefix, manifest.source, manifest.artifact)
            if sealed is not None:
                artifact += AGE_SUFFIX
            obj = listed.get(artifact)
            if manifest.manifest_name != parts[1] or obj is None:
                scan.incomplete.append(key)
                continue
            why = object_differs(manifest, obj)
            if why is not None:
                scan.mismatched.append(f"{artifact} ({why})")
                continue
            sha = sealed.sha256 if sealed is not None else manifest.sha256
            scan.found.append(
                (
                    manifest,
                    RemoteCopy(
                        remote.name,
                        artifact,
                        key,
                        obj.size,
                        sha,
                        sealed is not None,
                        iso_utc(utc_now()),
                        proven=proven_by_etag(manifest, obj),
                    ),
                )
            )
    finally:
        store.close()
    return scan


def object_differs(manifest: Manifest, obj: ObjectInfo) -> str | None:
    """Why the listed object is not the one its (remote) manifest describes, or None."""
    sealed = manifest.remote_encryption
    size = manifest.size if sealed is None else sealed.size
    if size is None:
        return "its manifest does not say its size"
    if sealed is not None and not sealed.sha256:
        return "its manifest does not say its SHA-256"
    if obj.size != size:
        return f"{obj.size} bytes, its manifest says {size}"
    etag = recorded_etag(manifest)
    if etag and obj.etag and obj.etag != etag:
        return f"ETag {obj.etag}, not the {etag} it had when uploaded: replaced or changed"
    return None


def recorded_etag(manifest: Manifest) -> str:
    """The ETag the object had when an upload proved it ("" if the manifest, written by
    an older Lifeboat, does not say)."""
    recorded = manifest.extra.get(REMOTE_OBJECT)
    return str(recorded.get("etag") or "") if isinstance(recorded, dict) else ""


def proven_by_etag(manifest: Manifest, obj: ObjectInfo) -> bool:
    """The object is still the one a proven upload wrote: it has the ETag recorded then.
    (Without both ETags to compare, only reading it back can tell.)"""
    etag = recorded_etag(manifest)
    return bool(etag) and obj.etag == etag and object_differs(manifest, obj) is None
