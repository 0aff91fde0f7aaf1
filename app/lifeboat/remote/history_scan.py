"""Adopting the continuous history a remote holds (`catalog rebuild`): each segment
whose object is still the one a proven upload wrote (its size and the ETag its manifest
recorded) is recorded as a proven copy, so that the status says how far the remote
holds the history and the uploader does not send it again. Anything else is left
alone and not counted: nothing on the remote is deleted or changed here."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.history.chain import MANIFEST_SUFFIX, SEGMENT_NAME_RE, SEGMENT_SUFFIX
from lifeboat.core.manifest import AGE_SUFFIX, REMOTE_ENCRYPTION, Sealed, iso_utc, utc_now
from lifeboat.core.stores import ObjectInfo, RemoteStore
from lifeboat.remote.history_plans import HISTORY, history_key
from lifeboat.remote.upload import REMOTE_OBJECT

log = logging.getLogger(__name__)


def scan_history(store: RemoteStore, remote: RemoteConfig) -> list[SegmentCopy]:
    """The proven segment copies on `remote`, of every source."""
    listed = {o.key: o for o in store.list_objects(remote.prefix)}
    found = []
    for key in sorted(listed):
        parts = key.removeprefix(remote.prefix + "/" if remote.prefix else "").split("/")
        if len(parts) != 3 or parts[1] != HISTORY or not parts[2].endswith(MANIFEST_SUFFIX):
            continue
        try:
            data = json.loads(store.get_bytes(key))
            copy = _copy_of(remote, parts[0], data, key, listed)
        except (ValueError, KeyError, TypeError):
            log.warning("history manifest %s on %s is unreadable; not counted", key, remote.name)
            continue
        if copy is not None:
            found.append(copy)
    return found


def _copy_of(
    remote: RemoteConfig,
    source: str,
    data: dict[str, object],
    key: str,
    listed: dict[str, ObjectInfo],
) -> SegmentCopy | None:
    name = str(data["artifact"])
    match = SEGMENT_NAME_RE.match(name)
    stem = name.removesuffix(SEGMENT_SUFFIX)
    if match is None or match.group("source") != source or not key.endswith(stem + ".json"):
        return None
    sealed = Sealed.from_json(data.get(REMOTE_ENCRYPTION))
    object_key = history_key(remote.prefix, source, name + (AGE_SUFFIX if sealed else ""))
    recorded = data.get(REMOTE_OBJECT)
    obj = listed.get(object_key)
    if not isinstance(recorded, dict) or obj is None:
        return None
    etag, size = str(recorded.get("etag") or ""), recorded.get("size")
    if not etag or obj.etag != etag or obj.size != size:
        log.warning(
            "history object %s on %s is not the one uploaded; not counted", object_key, remote.name
        )
        return None
    last = datetime.fromisoformat(str(data["last_commit_at"]).replace("Z", "+00:00"))
    return SegmentCopy(
        remote=remote.name,
        source=source,
        name=name,
        base_id=str(data["base"]),
        level=int(str(data["level"])),
        first_seq=int(str(data["first_commit_seq"])),
        last_seq=int(str(data["last_commit_seq"])),
        last_time_us=round(last.timestamp() * 1_000_000),
        end_digest=str(data["end_state_digest"]),
        key=object_key,
        manifest_key=key,
        size=obj.size,
        sha256=sealed.sha256 if sealed is not None and sealed.sha256 else str(data["sha256"]),
        encrypted=sealed is not None,
        uploaded_at=iso_utc(utc_now()),
    )
