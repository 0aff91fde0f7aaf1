"""MemoryBucket: one bucket of the memory store (memory.py), shared by every store
opened on it. Objects keep their bytes, metadata and the ETag their store gave them;
uploads in parts stay open until completed or aborted, as on S3. Tests also use it as
another client of the bucket would: to look, to damage an object, to leave an upload open.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field

from lifeboat.foundation.errors import RemoteError


@dataclass(frozen=True)
class MemoryObject:
    data: bytes
    metadata: dict[str, str]
    etag: str


@dataclass
class _Upload:
    key: str
    metadata: dict[str, str]
    parts: dict[int, bytes] = field(default_factory=dict)


class MemoryBucket:
    """One bucket's objects and open uploads. Every store opened on it shares them;
    any thread may use it (jobs run in threads)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._objects: dict[str, MemoryObject] = {}
        self._uploads: dict[str, _Upload] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- as another client of the bucket (tests: look, damage, leave an upload open) ---

    def objects(self) -> dict[str, MemoryObject]:
        """Every object now, by key in key order."""
        with self._lock:
            return dict(sorted(self._objects.items()))

    def object(self, key: str) -> MemoryObject | None:
        with self._lock:
            return self._objects.get(key)

    def write(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Put an object as any other client of the bucket would (its ETag is its MD5)."""
        self.commit(key, data, dict(metadata or {}), hashlib.md5(data).hexdigest())

    def remove(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def uploads(self) -> dict[str, str]:
        """Every open upload: its id and key."""
        with self._lock:
            return {upload_id: u.key for upload_id, u in self._uploads.items()}

    # -- what its stores do (start_upload also leaves one open as a killed run did) ----

    def commit(self, key: str, data: bytes, metadata: dict[str, str], etag: str) -> None:
        with self._lock:
            self._objects[key] = MemoryObject(bytes(data), metadata, etag)

    def start_upload(self, key: str, metadata: dict[str, str]) -> str:
        with self._lock:
            upload_id = f"memory-upload-{next(self._ids)}"
            self._uploads[upload_id] = _Upload(key, dict(metadata))
            return upload_id

    def add_part(self, key: str, upload_id: str, number: int, data: bytes) -> None:
        with self._lock:
            self._upload(key, upload_id).parts[number] = data

    def complete_upload(self, key: str, upload_id: str, etag: str) -> None:
        with self._lock:
            upload = self._upload(key, upload_id)
            del self._uploads[upload_id]
            data = b"".join(upload.parts[n] for n in sorted(upload.parts))
            self._objects[key] = MemoryObject(data, upload.metadata, etag)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is not None and upload.key == key:
                del self._uploads[upload_id]

    def open_uploads(self, key: str) -> list[str]:
        with self._lock:
            return [upload_id for upload_id, u in self._uploads.items() if u.key == key]

    def _upload(self, key: str, upload_id: str) -> _Upload:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise RemoteError(
                f"the upload of {key} is no longer open on bucket {self.name!r} "
                "(aborted meanwhile)",
                "the upload is retried later",
            )
        return upload
