"""The one interface every remote store implements (S3 today)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from lifeboat.foundation.progress import CancelToken, Progress


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """An object the server was proven to hold exactly as sent."""

    key: str
    size: int
    sha256: str  # of the bytes sent
    etag: str  # as the server reports it after the upload (quotes stripped)
    part_size: int  # 0: sent in one request
    proof: str  # "etag" (the server's MD5s equal ours) or "read-back" (read and hashed)


class UploadLedger(Protocol):
    """Where a store records the multipart uploads it opens on the server, so that one a
    killed run left open can be aborted later (nothing stays billed on the bucket)."""

    def opening(self, key: str) -> str:
        """About to open an upload for `key`, its id not known yet: record a mark (and
        return it) that `opened` replaces. A run killed in between leaves the mark; the
        upload is then found by listing the key's open uploads."""
        ...

    def opened(self, key: str, upload_id: str, mark: str) -> None: ...

    def closed(self, upload_id: str) -> None:
        """The upload (or mark) was completed or aborted: nothing of it is left open."""
        ...


#: check(sha256 of everything read): called before an upload is committed (sent in one
#: request, or its parts completed); raising there aborts it and nothing is written.
ContentCheck = Callable[[str], None]


class RemoteStore(Protocol):
    """Objects by key. Every method raises RemoteError (or a LifeboatError) on failure.

    The put methods return only once the server is proven to hold exactly the bytes
    sent; otherwise they raise and nothing counts."""

    name: str

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
    ) -> Stored: ...

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size_hint: int,
        metadata: dict[str, str],
        progress: Progress,
        cancel: CancelToken,
        ledger: UploadLedger | None = None,
        check: ContentCheck | None = None,
    ) -> Stored:
        """Upload what `stream` yields until its end (length unknown in advance;
        `size_hint` is for progress and part sizes only), holding only a few parts in
        memory."""
        ...

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str]) -> Stored: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def get_file(self, key: str, dest: Path, *, progress: Progress, cancel: CancelToken) -> None:
        """Download into `dest`, which must not exist (created exclusively, 0600); it
        has exactly the size the server reports, or it is removed and RemoteError
        raised."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def read_back(self, key: str, *, progress: Progress, cancel: CancelToken) -> tuple[int, str]:
        """The size and SHA-256 of what the server returns for `key`, read to its end
        (written nowhere): the proof that it holds a copy's bytes. A RemoteError with
        `not_found` set if there is no such object."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...

    def open_uploads(self, key: str) -> list[str]:
        """The ids of the multipart uploads open on the server for exactly `key`."""
        ...

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an open multipart upload (one that no longer exists counts as aborted)."""
        ...

    def close(self) -> None: ...
