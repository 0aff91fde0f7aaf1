"""Uploads that prove themselves: Lifeboat's own single and multipart uploads on the
low-level S3 client.

Every PutObject and UploadPart carries Content-MD5, so a server that checks it (AWS and
the S3-compatible services) rejects a body changed in transit; and the ETag each request
returns must be the MD5 of what was sent, or the part is sent again. Once the object is
written, a HEAD must report its size and the ETag S3 gives those bytes (the MD5, or for a
multipart upload the MD5 of the parts' MD5s and the number of parts). Where the server's
ETags are something else (SSE-KMS, SSE-C, services with their own scheme), the object is
read back and its SHA-256 compared with what was sent. Only then does it count.

Parts are read (and hashed) one after another and sent by `concurrency` threads: at most
concurrency + 1 parts are in memory. A multipart upload is reported to the caller's
ledger just before it is opened, once its id is known, and once completed or aborted,
so one that a killed run left open can be aborted later.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from lifeboat.core.stores import ByteSource, ContentCheck, Stored, UploadLedger
from lifeboat.foundation.errors import LifeboatError, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.storage.s3_errors import translate
from lifeboat.storage.sending import (
    MAX_PARTS,
    Halted,
    PartBody,
    RateLimit,
    SentCounter,
    abort_quietly,
    clean_etag,
    content_md5,
    etag_is_md5,
    halted_by,
    multipart_etag,
    part_size_for,
    prove_upload,
    single_etag,
    upload_pieces,
)

log = logging.getLogger(__name__)
SEND_ATTEMPTS = 3  # sends of one part whose ETag says the server got other bytes
#: errors with which a server says the body it received is not the one described
_BODY_CHANGED = ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch")


class Uploads:
    """The upload half of an S3Store (see the module's text)."""

    def __init__(
        self,
        store: Any,
        *,
        part_size: int,
        threshold: int,
        concurrency: int,
        limit: RateLimit | None,
    ) -> None:
        self.store = store
        self.client = store.client
        self.part_size = part_size
        self.threshold = threshold
        self.concurrency = max(1, concurrency)
        self.limit = limit

    def put(
        self,
        key: str,
        source: ByteSource,
        *,
        size: int | None,
        size_hint: int,
        metadata: dict[str, str],
        progress: Progress,
        cancel: CancelToken,
        ledger: UploadLedger | None,
        check: ContentCheck | None,
    ) -> Stored:
        """Upload `source` to its end (`size`: known length of a file, None: a stream)."""
        counter = SentCounter(progress, size if size is not None else size_hint)
        part = part_size_for(self.part_size, size if size is not None else size_hint)
        pieces = upload_pieces(source, size=size, threshold=self.threshold, part_size=part)
        if isinstance(pieces, bytes):
            return self._single(key, pieces, metadata, counter, cancel, check)
        return self._multipart(key, pieces, part, metadata, counter, cancel, ledger, check)

    # -- one request -----------------------------------------------------------------

    def _single(
        self,
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
        digest = hashlib.md5(data).digest()
        never = threading.Event()

        def put(body: PartBody) -> dict[str, Any]:
            return self.client.put_object(
                Bucket=self.store.bucket,
                Key=key,
                Body=body,
                Metadata=metadata,
                ContentMD5=content_md5(digest),
            )

        _, provable = self._send(put, data, digest, key, counter, cancel, never)
        expected = single_etag(digest) if provable else None
        return prove_upload(self.store, key, len(data), sha256, expected, 0, cancel)

    def _send(
        self,
        request: Callable[[PartBody], dict[str, Any]],
        data: bytes,
        digest: bytes,
        what: str,
        counter: SentCounter,
        cancel: CancelToken,
        failed: threading.Event,
    ) -> tuple[str, bool]:
        """Send `data` until the server's ETag says it got exactly these bytes. Returns
        the ETag as the server wrote it and whether it proves the bytes (False: the
        server's ETags are not MD5s; the whole object is read back at the end)."""
        halted = halted_by(cancel, failed)
        expected, wrong = single_etag(digest), None
        for _ in range(SEND_ATTEMPTS):
            body = PartBody(data, sent=counter, limit=self.limit, halted=halted)
            try:
                reply = request(body)
            except Exception as exc:
                self._raise_unless_changed_in_transit(exc, what, cancel, failed)
                counter(-body.counted)
                continue
            raw = str(reply.get("ETag", ""))
            etag = clean_etag(raw)
            if etag == expected:
                return raw, True
            if not self._etags_can_prove(etag, reply, wrong, what):
                return raw, False
            log.warning(
                "remote %s: the server received other bytes than were sent for %s "
                "(ETag %s, sent MD5 %s); sending it again",
                self.store.name,
                what,
                etag,
                expected,
            )
            wrong = etag
            counter(-body.counted)
        raise RemoteError(
            f"remote {self.store.name} received other bytes than were sent "
            f"for {what} ({SEND_ATTEMPTS} tries); nothing was counted",
            "check the network between here and the server (a proxy or "
            "firewall that changes data?); the upload is retried later",
        )

    def _raise_unless_changed_in_transit(
        self, exc: Exception, what: str, cancel: CancelToken, failed: threading.Event
    ) -> None:
        """A request failed: stop if cancelled or another part failed; send again only
        when the server says the body arrived changed, else raise what went wrong."""
        cancel.check()
        if failed.is_set():
            raise Halted from None
        code = _error_code(exc)
        if code not in _BODY_CHANGED:
            raise translate(exc, self.store, what) from None
        log.warning(
            "remote %s: the server says %s arrived changed (%s); sending it again",
            self.store.name,
            what,
            code,
        )

    def _etags_can_prove(
        self, etag: str, reply: dict[str, Any], wrong: str | None, what: str
    ) -> bool:
        """Whether an ETag that is not the MD5 sent still says the server got other bytes
        (send again), or this server's ETags cannot prove the bytes (read them back)."""
        if not etag_is_md5(etag, reply):
            log.info(
                "remote %s: its ETags are not MD5s (%s); %s is proven by reading it back",
                self.store.name,
                etag,
                what,
            )
            return False
        if etag == wrong:
            # The same other value for the same bytes twice: this server's ETags are
            # not MD5s after all, or the same change happens each time. Reading the
            # object back tells which.
            log.warning(
                "remote %s: %s got the same ETag %s twice, not the MD5 of what "
                "was sent; it is proven by reading it back",
                self.store.name,
                what,
                etag,
            )
            return False
        return True

    # -- in parts --------------------------------------------------------------------

    def _multipart(
        self,
        key: str,
        chunks: Iterator[bytes],
        part_size: int,
        metadata: dict[str, str],
        counter: SentCounter,
        cancel: CancelToken,
        ledger: UploadLedger | None,
        check: ContentCheck | None,
    ) -> Stored:
        bucket = self.store.bucket
        mark = ledger.opening(key) if ledger is not None else ""
        try:
            upload_id = str(
                self.client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)[
                    "UploadId"
                ]
            )
        except Exception as exc:
            if ledger is not None and _error_code(exc):
                ledger.closed(mark)  # the server answered: it opened nothing
            # Otherwise the mark stays: an upload may have been opened all the same.
            raise translate(exc, self.store, key) from None
        try:
            if ledger is not None:
                ledger.opened(key, upload_id, mark)
            parts, digests, size, sha256, provable = self._send_parts(
                key, upload_id, chunks, counter, cancel
            )
            if check is not None:
                check(sha256)
            cancel.check()
            self.client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"ETag": etag, "PartNumber": number} for number, etag in parts]
                },
            )
        except BaseException as exc:
            abort_quietly(self.store, key, upload_id, ledger)
            if isinstance(exc, LifeboatError | KeyboardInterrupt | SystemExit):
                raise
            raise translate(exc, self.store, key) from None
        if ledger is not None:
            ledger.closed(upload_id)
        expected = multipart_etag(digests) if provable else None
        return prove_upload(self.store, key, size, sha256, expected, part_size, cancel)

    def _send_parts(
        self,
        key: str,
        upload_id: str,
        chunks: Iterator[bytes],
        counter: SentCounter,
        cancel: CancelToken,
    ) -> tuple[list[tuple[int, str]], list[bytes], int, str, bool]:
        """Read, hash and send the parts, `concurrency` at a time. Returns the parts'
        numbers and ETags, their MD5s, the size, the SHA-256 and whether every ETag
        proves its part."""
        sha, digests, size = hashlib.sha256(), [], 0
        failed = threading.Event()
        futures: list[Future[tuple[int, str, bool]]] = []
        pending: set[Future[tuple[int, str, bool]]] = set()
        send = functools.partial(
            self._send_part, key, upload_id, counter=counter, cancel=cancel, failed=failed
        )

        def settle(block: bool) -> None:
            nonlocal pending
            while pending and (block or len(pending) >= self.concurrency):
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # the first failure ends the upload
                cancel.check()

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="lifeboat-upload") as pool:
            try:
                for number, data in enumerate(chunks, start=1):
                    if number > MAX_PARTS:
                        raise RemoteError(
                            f"{key} needs more than {MAX_PARTS} parts",
                            "set a larger part_size for this remote",
                        )
                    sha.update(data)
                    digest = hashlib.md5(data).digest()
                    digests.append(digest)
                    size += len(data)
                    settle(block=False)  # wait for a free sender before taking more
                    future = pool.submit(send, number, data, digest)
                    futures.append(future)
                    pending.add(future)
                    del data
                    cancel.check()
                settle(block=True)
            except BaseException:
                failed.set()  # parts in flight stop mid-body
                raise
        results = sorted(f.result() for f in futures)
        parts = [(number, etag) for number, etag, _ in results]
        return parts, digests, size, sha.hexdigest(), all(p for _, _, p in results)

    def _send_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes,
        digest: bytes,
        counter: SentCounter,
        cancel: CancelToken,
        failed: threading.Event,
    ) -> tuple[int, str, bool]:
        """Send part `number` (in a sender thread): its number, ETag and whether that
        proves the bytes."""

        def request(body: PartBody) -> dict[str, Any]:
            return self.client.upload_part(
                Bucket=self.store.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentMD5=content_md5(digest),
            )

        etag, provable = self._send(
            request, data, digest, f"part {number} of {key}", counter, cancel, failed
        )
        return number, etag, provable

    # -- reading back ----------------------------------------------------------------

    def read_back(
        self, key: str, cancel: CancelToken, progress: Progress | None = None
    ) -> tuple[int, str]:
        """The size and SHA-256 of what the server returns for `key`."""
        digest, size = hashlib.sha256(), 0
        try:
            reply = self.client.get_object(Bucket=self.store.bucket, Key=key)
            total, body = int(reply.get("ContentLength") or 0), reply["Body"]
            try:
                while block := body.read(1 << 20):
                    cancel.check()
                    digest.update(block)
                    size += len(block)
                    if progress is not None:
                        progress("read back", size, total)
            finally:
                body.close()
        except LifeboatError:
            raise
        except Exception as exc:
            raise translate(exc, self.store, key) from None
        return size, digest.hexdigest()


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
