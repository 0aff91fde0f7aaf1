"""What a remote store is: the interface every destination implements (S3 today; a local
or NAS folder, SFTP later), its small types, and what opens one (`StoreOpener`).

They are named here, below storage/, so that the workspace can carry the service's
opener to the jobs and to remote/ without core depending on any store: storage/
implements this interface (storage/s3.py, storage/memory.py) and storage/factory.py
opens the configured ones.

Keys are "<prefix>/<source>/<name>" strings (core/remote_keys.py); every store takes them
as they are. Each store proves its own copies: a put returns only once the store is
proven to hold exactly the bytes sent, and its `Stored` says how (see PROOFS).
tests/storage/test_store_contract.py pins what every store must do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, TypeAlias

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.secrets import S3Credentials
from lifeboat.foundation.errors import OperationFailed, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress

#: How a store may prove that it holds exactly the bytes sent (`Stored.proof`). A store
#: that proves another way adds its word here, and says what it means.
PROOFS = {
    "etag": "the tag the store reports for the object is the one our bytes give "
    "(S3: the MD5 of what was sent, or of its parts)",
    "read-back": "the object was read back from the store and hashed to our SHA-256",
}

#: Credentials given for a remote instead of its stored ones (one not saved yet, being
#: tested). Each kind of remote has its own type; S3's is the only one today.
Credentials: TypeAlias = S3Credentials


@dataclass(frozen=True)
class ObjectInfo:
    """An object as the store reports it. `etag` is the store's tag for this content:
    it changes whenever the object is replaced or its bytes change ("" when the store
    has none; then only reading the object back proves it)."""

    key: str
    size: int
    etag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """An object the store was proven to hold exactly as sent."""

    key: str
    size: int
    sha256: str  # of the bytes sent
    etag: str  # the store's tag for the object after the upload ("" if it has none)
    part_size: int  # the size of its parts if it was sent in parts; 0: in one piece
    proof: str  # how it was proven: a key of PROOFS


class RemoteNotFound(RemoteError):
    """The object asked for is not on the remote."""

    not_found = True


class ByteSource(Protocol):
    """What an upload reads: an open file, or a stream such as core/encrypt_stream's
    EncryptingReader (read until it returns b"")."""

    def read(self, size: int = -1, /) -> bytes: ...


class UploadLedger(Protocol):
    """Where a store records the unfinished uploads it opens (S3's multipart uploads, a
    folder's partial file), so that one a killed run left open can be aborted later
    (nothing stays billed or lying about on the remote)."""

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

    The put methods return only once the store is proven to hold exactly the bytes
    sent; otherwise they raise and nothing counts. A put that fails or is cancelled
    before the store committed the object writes nothing there and leaves no upload
    open. Metadata names are lowercase letters,
    digits and '-', their values printable ASCII; a put replaces an object's metadata
    with its own."""

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
        stream: ByteSource,
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

    def head(self, key: str) -> ObjectInfo | None:
        """The object at `key` with its metadata; None if there is none."""
        ...

    def get_file(self, key: str, dest: Path, *, progress: Progress, cancel: CancelToken) -> None:
        """Download into `dest`, which must not exist (created exclusively, 0600); it
        has exactly the size the store reports, or it is removed and RemoteError
        raised."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes (small objects: manifests); RemoteNotFound if none."""
        ...

    def read_back(self, key: str, *, progress: Progress, cancel: CancelToken) -> tuple[int, str]:
        """The size and SHA-256 of what the store returns for `key`, read to its end
        (written nowhere): the proof that it holds a copy's bytes. RemoteNotFound (a
        RemoteError with `not_found` set) if there is no such object."""
        ...

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """The objects whose keys start with `prefix` (a plain string prefix, not a
        folder), in key order, without their metadata."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object; one that is not there counts as deleted."""
        ...

    def open_uploads(self, key: str) -> list[str]:
        """The ids of the unfinished uploads open on the store for exactly `key`."""
        ...

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an unfinished upload (one that no longer exists counts as aborted)."""
        ...

    def close(self) -> None: ...


class StoreOpener(Protocol):
    """Opens the store of a configured remote, with its stored credentials (or the ones
    given: a remote being tested before it is saved). The service holds one; the
    workspace hands it to the jobs and remote/ (see Workspace.stores)."""

    def open(self, remote: RemoteConfig, *, credentials: Credentials | None = None) -> RemoteStore:
        """A store for `remote`, to be closed after use (it may hold connections)."""
        ...


@contextlib.contextmanager
def opened_for_upload(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """The file a store's put_file sends, and its size, read once from the open file (a
    file replaced meanwhile cannot mix two sizes); one line if it cannot be read."""
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OperationFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    with source:
        yield source, os.fstat(source.fileno()).st_size
