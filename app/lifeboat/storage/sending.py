"""What an upload needs besides the S3 client, as plain pieces: the ETag a server reports
for bytes it received intact, how a source is cut into parts, progress counted from
several threads, the proof that ends every upload, a shared bandwidth limit, and a
part's body as the file object the HTTP layer reads (progress, bandwidth and
cancellation on the way out). The memory store uses the same pieces, so its uploads
go in the same parts, with the same ETags and proofs, as S3's."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lifeboat.core.stores import ByteSource, RemoteStore, Stored, UploadLedger
from lifeboat.foundation.errors import LifeboatError, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MIB
MAX_PARTS = 10_000
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_ETAG = re.compile(r"^[0-9a-f]{32}-[1-9][0-9]*$")
#: server-side encryption whose ETags are not the MD5 of the object (AWS's words)
_OPAQUE_ENCRYPTION = ("aws:kms", "aws:kms:dsse")
_REPORT_EVERY = 256 * 1024  # bytes between progress reports


def content_md5(digest: bytes) -> str:
    """The Content-MD5 header's value for an MD5 digest (base64, as HTTP wants it)."""
    return base64.b64encode(digest).decode("ascii")


def single_etag(digest: bytes) -> str:
    """The ETag S3 reports for an object sent in one request: the MD5 of its bytes."""
    return digest.hex()


def multipart_etag(part_digests: Iterable[bytes]) -> str:
    """The ETag S3 reports for a completed multipart upload: the MD5 of the parts' MD5s
    (binary, in order), then '-' and the number of parts."""
    digests = list(part_digests)
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def clean_etag(value: object) -> str:
    return str(value or "").strip().strip('"').lower()


def etag_is_md5(etag: str, reply: dict[str, object] | None = None) -> bool:
    """Whether `etag` is shaped like an MD5 ETag (single or multipart) and the reply does
    not say the object is encrypted in a way that makes ETags something else."""
    if reply is not None and (
        reply.get("ServerSideEncryption") in _OPAQUE_ENCRYPTION or reply.get("SSECustomerAlgorithm")
    ):
        return False
    return bool(_MD5_ETAG.match(etag) or _MULTIPART_ETAG.match(etag))


def part_size_for(configured: int, total_hint: int) -> int:
    """The part size to use: the configured one within S3's limits, grown so that
    `total_hint` bytes fit in S3's 10,000 parts (with room for a stream's overhead)."""
    size = min(max(configured, MIN_PART), MAX_PART)
    needed = (total_hint + total_hint // 50) // MAX_PARTS + 1
    while size < needed and size < MAX_PART:
        size = min(size * 2, MAX_PART)
    return size


def upload_pieces(
    source: ByteSource, *, size: int | None, threshold: int, part_size: int
) -> bytes | Iterator[bytes]:
    """What `source` goes up as: its bytes, to be sent in one request (a file of known
    `size` under the threshold, or a source that ends within one part), or its parts.
    A file is read to its end even beyond `size`: the content check decides what
    counts."""
    if size is not None and size < threshold:
        return source.read()
    first = read_full(source, part_size)
    second = read_full(source, part_size) if len(first) == part_size else b""
    if not second:
        return first
    return _parts(source, part_size, [first, second])


def read_full(source: ByteSource, size: int) -> bytes:
    """Up to `size` bytes: fewer only at the end of `source`."""
    pieces, have = [], 0
    while have < size:
        piece = source.read(size - have)
        if not piece:
            break
        pieces.append(piece)
        have += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _parts(source: ByteSource, size: int, first: list[bytes]) -> Iterator[bytes]:
    """`source` in parts of `size` bytes, after the `first` ones already read (handed
    out, not kept: memory holds only the parts in flight)."""
    while first:
        yield first.pop(0)
    while chunk := read_full(source, size):
        yield chunk


class SentCounter:
    """Bytes sent so far, from every sending thread, reported now and then (and at the
    end) as progress("upload", done, total)."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = max(total, 0)
        self.done = 0
        self._reported = 0
        self._lock = threading.Lock()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            done = max(0, min(self.done, self.total))
            if amount > 0 and done - self._reported < _REPORT_EVERY and done < self.total:
                return
            self._reported = done
        self.progress("upload", done, self.total)


def prove_upload(
    store: RemoteStore,
    key: str,
    size: int,
    sha256: str,
    expected_etag: str | None,
    part_size: int,
    cancel: CancelToken,
) -> Stored:
    """The object at `key` counts only if the store holds exactly what was sent: its
    ETag is the one those bytes give (`expected_etag`, None where the store's ETags
    cannot tell), or it reads back with the same SHA-256."""
    info = store.head(key)
    if info is None or info.size != size:
        got = "nothing" if info is None else f"{info.size} bytes"
        raise RemoteError(
            f"{key} did not arrive whole on remote {store.name} "
            f"(found {got}, sent {size} bytes); it is not counted",
            "the upload is retried later",
        )
    if expected_etag is not None and info.etag == expected_etag:
        return Stored(key, size, sha256, info.etag, part_size, "etag")
    got_size, got_sha = store.read_back(key, progress=no_progress, cancel=cancel)
    if got_size == size and got_sha == sha256:
        return Stored(key, size, sha256, info.etag, part_size, "read-back")
    raise RemoteError(
        f"remote {store.name} holds other bytes at {key} than were "
        "sent (read back, they hash differently); it is not counted",
        "the upload is retried later; if this repeats, check the network and the service",
    )


def abort_quietly(
    store: RemoteStore, key: str, upload_id: str, ledger: UploadLedger | None
) -> None:
    """Abort an upload that failed or was cancelled, and tell the ledger; one that cannot
    be aborted now stays recorded (the next upload job aborts it)."""
    try:
        store.abort_upload(key, upload_id)
    except LifeboatError as exc:
        log.warning(
            "remote %s: could not abort the unfinished upload of %s (%s); it "
            "is aborted on the next upload",
            store.name,
            key,
            exc.message,
        )
        return
    if ledger is not None:
        try:
            ledger.closed(upload_id)
        except Exception:
            log.exception("could not record that the upload of %s was aborted", key)


class RateLimit:
    """Bytes per second shared by every thread of one store: each chunk waits for its
    turn, so the average stays at the rate whatever the number of parts in flight."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, size: int, cancel: Callable[[], bool]) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + size / self.rate
        while (wait := start - time.monotonic()) > 0:
            if cancel():
                return
            time.sleep(min(wait, 0.1))


class Halted(Exception):
    """The upload was cancelled or failed elsewhere: this request stops sending."""


class PartBody:
    """A part's bytes as the file object botocore sends.

    Reads made while the request is really going out (not while botocore hashes it to
    sign it: see `signal_not_transferring`) count as progress and keep to the bandwidth
    limit; a rewind for a retry takes back the progress counted. When `halted()` turns
    true, the next read raises Halted, which ends the request mid-body."""

    def __init__(
        self,
        data: bytes,
        *,
        sent: Callable[[int], None],
        limit: RateLimit | None,
        halted: Callable[[], bool],
    ) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._counted = 0
        self._transferring = True
        self._sent = sent
        self._limit = limit
        self.halted = halted

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return True  # an empty part is still a body (botocore tests `not body`)

    @property
    def counted(self) -> int:
        """Bytes of this body counted as sent (taken back when it is sent again)."""
        return self._counted

    def read(self, size: int = -1) -> bytes:
        if self.halted():
            raise Halted
        end = (
            len(self._data) if size is None or size < 0 else min(self._pos + size, len(self._data))
        )
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        if self._transferring and chunk:
            if self._limit is not None:
                self._limit.take(len(chunk), self.halted)
                if self.halted():
                    raise Halted
            self._counted += len(chunk)
            self._sent(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._data)}[whence]
        self._pos = max(0, min(base + offset, len(self._data)))
        if self._pos == 0 and self._counted:
            self._sent(-self._counted)  # sent again from the start: count it again
            self._counted = 0
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def signal_transferring(self) -> None:
        self._transferring = True

    def signal_not_transferring(self) -> None:
        self._transferring = False


def halted_by(cancel: CancelToken, failed: threading.Event) -> Callable[[], bool]:
    return lambda: cancel.cancelled or failed.is_set()


def _signal(method: str) -> Callable[..., None]:
    def handler(request: object, **kwargs: object) -> None:
        body = getattr(request, "body", None)
        if isinstance(body, PartBody):
            getattr(body, method)()

    return handler


def watch_bodies(client: Any) -> None:  # a boto3 client: boto3 has no types
    """Make `client` tell each PartBody when botocore reads it to sign the request (not
    sending, so no progress or bandwidth), and never retry a request whose upload was
    halted (so a cancel does not wait out botocore's retries)."""
    events = client.meta.events
    events.register_first(
        "request-created.s3",
        _signal("signal_not_transferring"),
        unique_id="lifeboat-body-not-sending",
    )
    events.register_last(
        "request-created.s3", _signal("signal_transferring"), unique_id="lifeboat-body-sending"
    )
    events.register_first(
        "needs-retry.s3", _no_retry_when_halted, unique_id="lifeboat-no-retry-halted"
    )


def _no_retry_when_halted(request_dict: dict[str, object] | None = None, **kwargs: object) -> None:
    body = (request_dict or {}).get("body")
    if isinstance(body, PartBody) and body.halted():
        raise Halted
