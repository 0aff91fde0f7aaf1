"""MemoryStore: the RemoteStore in memory, for fast tests (and next to the S3 store in
the contract suite, tests/storage/test_store_contract.py, that every store passes).

It behaves as S3 does where Lifeboat can tell: objects keep their bytes, metadata and an
ETag made like S3's (the MD5 of the bytes; for an upload in parts, the MD5 of the parts'
MD5s and their number), so the proofs by ETag apply as they do on S3. What goes over the
remote's multipart threshold goes up in parts of its part size, as an upload that stays
open (listed by `open_uploads`, aborted by `abort_upload`, reported to the ledger) until
it is completed; progress is reported and cancellation checked as the bytes "go out".
Nothing is rate-limited and nothing authenticates.

`MemoryStores` is the StoreOpener: named buckets (memory_bucket.py) shared by every store
it opens, so an upload and a later restore in the same test see the same objects. A remote
whose bucket it does not have fails every request, as a missing bucket does on S3.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.stores import (
    ByteSource,
    ContentCheck,
    Credentials,
    ObjectInfo,
    Stored,
    UploadLedger,
    opened_for_upload,
)
from lifeboat.foundation.errors import LifeboatError, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.units import parse_size
from lifeboat.storage.downloads import download_into, not_on_remote
from lifeboat.storage.memory_bucket import MemoryBucket
from lifeboat.storage.sending import (
    MAX_PARTS,
    SentCounter,
    abort_quietly,
    multipart_etag,
    part_size_for,
    prove_upload,
    upload_pieces,
)

_CHUNK = 256 * 1024  # what "goes out" between two looks at the cancel token
_METADATA_NAME = re.compile(r"^[a-z0-9-]+$")


class MemoryStores:
    """The StoreOpener of tests: every store it opens works on its buckets. With no
    `buckets` named, any bucket a remote names is there (made when first used); with
    names, only those (and the ones made with `create_bucket`)."""

    def __init__(self, buckets: Iterable[str] | None = None) -> None:
        self._any = buckets is None
        self._buckets = {name: MemoryBucket(name) for name in buckets or ()}
        self._lock = threading.Lock()
        #: every store opened, in order (a test may check that each was closed)
        self.opened: list[MemoryStore] = []

    def open(self, remote: RemoteConfig, *, credentials: Credentials | None = None) -> MemoryStore:
        store = MemoryStore(remote, self._find(remote.bucket))
        with self._lock:
            self.opened.append(store)
        return store

    def bucket(self, name: str) -> MemoryBucket:
        """The bucket `name` (KeyError if these stores do not have it)."""
        found = self._find(name)
        if found is None:
            raise KeyError(name)
        return found

    def create_bucket(self, name: str) -> MemoryBucket:
        with self._lock:
            return self._buckets.setdefault(name, MemoryBucket(name))

    def _find(self, name: str) -> MemoryBucket | None:
        with self._lock:
            if name not in self._buckets and self._any:
                self._buckets[name] = MemoryBucket(name)
            return self._buckets.get(name)


class MemoryStore:
    """The store of one remote on a MemoryBucket (None: the bucket does not exist)."""

    def __init__(self, remote: RemoteConfig, bucket: MemoryBucket | None) -> None:
        self.name = remote.name
        self.remote = remote
        self._bucket_or_none = bucket
        self.part_size = parse_size(remote.part_size)
        self.threshold = parse_size(remote.multipart_threshold)
        self.closed = False

    # -- RemoteStore: uploads --------------------------------------------------------

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        metadata: dict[str, str],
        progress: Progress,
        cancel: CancelToken,
        ledger: UploadLedger | None = None,
        check: ContentCheck | None = None,
    ) -> Stored:
        with opened_for_upload(path) as (source, size):
            return self._put(key, source, size, size, metadata, progress, cancel, ledger, check)

    def put_stream(
        self,
        key: str,
        stream: ByteSource,
        *,
        size_hint: int,
        metadata: dict[str, str],
        progress: Progress,
        cancel: CancelToken,
        ledger: UploadLedger | None = None,
        check: ContentCheck | None = None,
    ) -> Stored:
        return self._put(key, stream, None, size_hint, metadata, progress, cancel, ledger, check)

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str]) -> Stored:
        return self._put(
            key, BytesIO(data), len(data), len(data), metadata, no_progress, CancelToken(), None
        )

    def _put(
        self,
        key: str,
        source: ByteSource,
        size: int | None,
        size_hint: int,
        metadata: dict[str, str],
        progress: Progress,
        cancel: CancelToken,
        ledger: UploadLedger | None,
        check: ContentCheck | None = None,
    ) -> Stored:
        _check_metadata(metadata)
        bucket = self._bucket()
        counter = SentCounter(progress, size if size is not None else size_hint)
        part = part_size_for(self.part_size, size if size is not None else size_hint)
        pieces = upload_pieces(source, size=size, threshold=self.threshold, part_size=part)
        if isinstance(pieces, bytes):
            return self._single(bucket, key, pieces, metadata, counter, cancel, check)
        return self._in_parts(bucket, key, pieces, part, metadata, counter, cancel, ledger, check)

    def _single(
        self,
        bucket: MemoryBucket,
        key: str,
        data: bytes,
        metadata: dict[str, str],
        counter: SentCounter,
        cancel: CancelToken,
        check: ContentCheck | None,
    ) -> Stored:
        sha256 = hashlib.sha256(data).hexdigest()
        if check is not None:
            check(sha256)
        _send(data, counter, cancel)
        cancel.check()
        etag = hashlib.md5(data).hexdigest()
        bucket.commit(key, data, dict(metadata), etag)
        return prove_upload(self, key, len(data), sha256, etag, 0, cancel)

    def _in_parts(
        self,
        bucket: MemoryBucket,
        key: str,
        parts: Iterator[bytes],
        part_size: int,
        metadata: dict[str, str],
        counter: SentCounter,
        cancel: CancelToken,
        ledger: UploadLedger | None,
        check: ContentCheck | None,
    ) -> Stored:
        """As S3's multipart upload: open (the ledger hears of it first), parts, the
        content check, complete; anything that stops it aborts it."""
        mark = ledger.opening(key) if ledger is not None else ""
        upload_id = bucket.start_upload(key, metadata)
        try:
            if ledger is not None:
                ledger.opened(key, upload_id, mark)
            sha, digests, size = hashlib.sha256(), [], 0
            for number, data in enumerate(parts, start=1):
                if number > MAX_PARTS:
                    raise RemoteError(
                        f"{key} needs more than {MAX_PARTS} parts",
                        "set a larger part_size for this remote",
                    )
                sha.update(data)
                digests.append(hashlib.md5(data).digest())
                size += len(data)
                _send(data, counter, cancel)
                bucket.add_part(key, upload_id, number, data)
                cancel.check()
            if check is not None:
                check(sha.hexdigest())
            cancel.check()
            etag = multipart_etag(digests)
            bucket.complete_upload(key, upload_id, etag)
        except BaseException:
            abort_quietly(self, key, upload_id, ledger)
            raise
        if ledger is not None:
            ledger.closed(upload_id)
        return prove_upload(self, key, size, sha.hexdigest(), etag, part_size, cancel)

    # -- RemoteStore: reading --------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        found = self._bucket().object(key)
        if found is None:
            return None
        return ObjectInfo(key, len(found.data), found.etag, dict(found.metadata))

    def get_file(self, key: str, dest: Path, *, progress: Progress, cancel: CancelToken) -> None:
        found = self._bucket().object(key)
        if found is None:
            raise not_on_remote(key, self.name)

        def write(out: BinaryIO) -> None:
            total = len(found.data)
            for start in range(0, total, _CHUNK):
                cancel.check()
                block = found.data[start : start + _CHUNK]
                out.write(block)
                progress("download", start + len(block), total)

        download_into(dest, key, write)

    def get_bytes(self, key: str) -> bytes:
        found = self._bucket().object(key)
        if found is None:
            raise not_on_remote(key, self.name)
        return found.data

    def read_back(self, key: str, *, progress: Progress, cancel: CancelToken) -> tuple[int, str]:
        found = self._bucket().object(key)
        if found is None:
            raise not_on_remote(key, self.name)
        digest, total = hashlib.sha256(), len(found.data)
        for start in range(0, total, _CHUNK):
            cancel.check()
            block = found.data[start : start + _CHUNK]
            digest.update(block)
            progress("read back", start + len(block), total)
        return total, digest.hexdigest()

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        for key, found in self._bucket().objects().items():
            if key.startswith(prefix):
                yield ObjectInfo(key, len(found.data), found.etag)

    # -- RemoteStore: the rest -------------------------------------------------------

    def delete(self, key: str) -> None:
        self._bucket().remove(key)

    def open_uploads(self, key: str) -> list[str]:
        return self._bucket().open_uploads(key)

    def abort_upload(self, key: str, upload_id: str) -> None:
        self._bucket().abort_upload(key, upload_id)

    def close(self) -> None:
        self.closed = True

    def _bucket(self) -> MemoryBucket:
        if self.closed:
            raise RuntimeError(f"the store of remote {self.name} was used after close()")
        if self._bucket_or_none is None:
            raise RemoteError(
                f"bucket {self.remote.bucket!r} does not exist (remote {self.name})",
                "create the bucket, or fix the bucket name: lifeboat remote "
                f"set {self.name} --bucket NAME",
            )
        return self._bucket_or_none


def _send(data: bytes, counter: SentCounter, cancel: CancelToken) -> None:
    """What sending `data` looks like from here: progress as it goes out, and a cancel
    stops it between two chunks."""
    for start in range(0, len(data), _CHUNK):
        cancel.check()
        counter(min(_CHUNK, len(data) - start))


def _check_metadata(metadata: dict[str, str]) -> None:
    """What every store can keep (S3 sends metadata as HTTP headers)."""
    for name, value in metadata.items():
        if not _METADATA_NAME.match(name) or not all(32 <= ord(c) < 127 for c in value):
            raise LifeboatError(
                f"metadata {name!r} cannot be stored on every remote",
                "this is a bug; please report",
            )
