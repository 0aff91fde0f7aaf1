"""What an upload needs besides the S3 client, as plain pieces: the ETag a server reports
for bytes it received intact, a shared bandwidth limit, and a part's body as the file
object the HTTP layer reads (progress, bandwidth and cancellation on the way out)."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable

from lifeboat.foundation.progress import CancelToken

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MIB
MAX_PARTS = 10_000
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_ETAG = re.compile(r"^[0-9a-f]{32}-[1-9][0-9]*$")
#: server-side encryption whose ETags are not the MD5 of the object (AWS's words)
_OPAQUE_ENCRYPTION = ("aws:kms", "aws:kms:dsse")


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


def watch_bodies(client: object) -> None:
    """Make `client` tell each PartBody when botocore reads it to sign the request (not
    sending, so no progress or bandwidth), and never retry a request whose upload was
    halted (so a cancel does not wait out botocore's retries)."""
    events = client.meta.events  # type: ignore[attr-defined]
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
