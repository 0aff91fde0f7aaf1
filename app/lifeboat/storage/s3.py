"""S3Store: the RemoteStore (core/stores.py) on boto3, for AWS S3 and S3-compatible services.

Compatibility: botocore's newer default checksum headers are sent and checked only when
an operation requires them (several S3-compatible services reject them); every upload
carries Content-MD5 instead, which they all check. Deletes go one key at a time (COS
requires Content-MD5 on DeleteObjects); TLS is always verified unless the user set
`insecure = true` for their own endpoint. Uploads are Lifeboat's own (s3_upload.py: each
one proven before it counts); downloads must come out at the size the server reports.
boto3 is imported here only, so nothing pays for it until remote work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.secrets import S3Credentials
from lifeboat.core.stores import (
    ByteSource,
    ContentCheck,
    ObjectInfo,
    Stored,
    UploadLedger,
    opened_for_upload,
)
from lifeboat.foundation.errors import LifeboatError, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.units import parse_rate, parse_size
from lifeboat.storage.downloads import download_into, not_on_remote
from lifeboat.storage.s3_errors import translate
from lifeboat.storage.s3_upload import Uploads
from lifeboat.storage.sending import RateLimit, clean_etag, watch_bodies

log = logging.getLogger(__name__)
DOWNLOAD_ATTEMPTS = 3  # a download cut short resumes where it stopped, this many times
_CHUNK = 1 << 20


class S3Store:
    def __init__(self, remote: RemoteConfig, credentials: S3Credentials | None) -> None:
        import boto3
        from botocore.config import Config

        self.name = remote.name
        self.remote = remote
        self.bucket = remote.bucket
        self.endpoint = remote.resolved_endpoint
        self.where = urlsplit(self.endpoint).hostname if self.endpoint else "AWS S3"
        if remote.insecure:
            log.warning(
                "remote %s: TLS certificate verification is OFF (insecure = true)", remote.name
            )
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id if credentials else None,
            aws_secret_access_key=credentials.secret_access_key if credentials else None,
            profile_name=remote.profile if credentials is None else None,
        )
        provider_style = {"virtual": "virtual", "path": "path"}
        from lifeboat.core.providers import provider

        config = Config(
            region_name=remote.resolved_region,
            signature_version="s3v4",
            s3={"addressing_style": provider_style[provider(remote.provider).addressing]},
            # A few quick retries here; the job queue retries later with long backoff.
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=15,
            read_timeout=60,
            max_pool_connections=max(10, remote.upload_concurrency + 2),
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra="lifeboat",
        )
        try:
            self.client = session.client(
                "s3", endpoint_url=self.endpoint, config=config, verify=not remote.insecure
            )
        except Exception as exc:
            raise translate(exc, self) from None
        watch_bodies(self.client)
        rate = parse_rate(remote.max_upload_rate) if remote.max_upload_rate else None
        self.uploads = Uploads(
            self,
            part_size=parse_size(remote.part_size),
            threshold=parse_size(remote.multipart_threshold),
            concurrency=remote.upload_concurrency,
            limit=RateLimit(rate) if rate else None,
        )

    # -- RemoteStore -----------------------------------------------------------------

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
            return self.uploads.put(
                key,
                source,
                size=size,
                size_hint=size,
                metadata=metadata,
                progress=progress,
                cancel=cancel,
                ledger=ledger,
                check=check,
            )

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
        return self.uploads.put(
            key,
            stream,
            size=None,
            size_hint=size_hint,
            metadata=metadata,
            progress=progress,
            cancel=cancel,
            ledger=ledger,
            check=check,
        )

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str]) -> Stored:
        from io import BytesIO

        return self.uploads.put(
            key,
            BytesIO(data),
            size=len(data),
            size_hint=len(data),
            metadata=metadata,
            progress=no_progress,
            cancel=CancelToken(),
            ledger=None,
            check=None,
        )

    def head(self, key: str) -> ObjectInfo | None:
        try:
            reply = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            error = translate(exc, self, key)
            if getattr(error, "not_found", False):
                return None
            raise error from None
        return ObjectInfo(
            key,
            int(reply["ContentLength"]),
            clean_etag(reply.get("ETag")),
            dict(reply.get("Metadata", {})),
        )

    def get_file(self, key: str, dest: Path, *, progress: Progress, cancel: CancelToken) -> None:
        info = self.head(key)
        if info is None:
            raise not_on_remote(key, self.name)
        download_into(dest, key, lambda out: self._download(key, info, out, progress, cancel))

    def get_bytes(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise translate(exc, self, key) from None

    def read_back(self, key: str, *, progress: Progress, cancel: CancelToken) -> tuple[int, str]:
        return self.uploads.read_back(key, cancel, progress=progress)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], int(item["Size"]), clean_etag(item.get("ETag")))
        except LifeboatError:
            raise
        except Exception as exc:
            raise translate(exc, self) from None

    def delete(self, key: str) -> None:
        # One key per request: COS rejects DeleteObjects without Content-MD5, which
        # botocore no longer sends by default.
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise translate(exc, self, key) from None

    def open_uploads(self, key: str) -> list[str]:
        # By the key's first folder, then exactly: no '/' in the query (see scan_remote).
        paginator = self.client.get_paginator("list_multipart_uploads")
        found = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key.split("/")[0]):
                found += [
                    str(u["UploadId"]) for u in page.get("Uploads", []) if u.get("Key") == key
                ]
        except Exception as exc:
            raise translate(exc, self, key) from None
        return found

    def abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:
            response = getattr(exc, "response", None)
            if (
                isinstance(response, dict)
                and response.get("Error", {}).get("Code") == "NoSuchUpload"
            ):
                return  # completed or aborted already: nothing is left open
            raise translate(exc, self, key) from None

    def close(self) -> None:
        self.client.close()

    # -- downloads -------------------------------------------------------------------

    def _download(
        self, key: str, info: ObjectInfo, out: BinaryIO, progress: Progress, cancel: CancelToken
    ) -> None:
        """Write the object into `out`; a transfer cut short resumes where it stopped
        (the object must keep the ETag HEAD reported), and the file must end at the size
        HEAD reported."""
        written, failures = 0, 0
        while True:
            cancel.check()
            body = self._open_from(key, info, written)
            try:
                written, cut_short = self._copy_body(
                    key, info, body, out, written, progress, cancel
                )
                if cut_short is None:
                    return
                failures += 1
                if failures >= DOWNLOAD_ATTEMPTS:
                    raise RemoteError(
                        f"the download of {key} from remote {self.name} was cut "
                        f"short ({written} of {info.size} bytes: "
                        f"{type(cut_short).__name__})",
                        "check the connection and retry",
                    ) from None
                log.warning(
                    "remote %s: download of %s cut short at %d bytes; resuming",
                    self.name,
                    key,
                    written,
                )
            finally:
                body.close()

    def _open_from(self, key: str, info: ObjectInfo, offset: int) -> Any:
        """The object's body from byte `offset` on; it must still be the object HEAD
        described (the same ETag)."""
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except Exception as exc:
            raise translate(exc, self, key) from None
        etag = clean_etag(reply.get("ETag"))
        if info.etag and etag and etag != info.etag:
            raise RemoteError(
                f"{key} changed on remote {self.name} while it was downloaded",
                "retry the restore",
            )
        return reply["Body"]

    def _copy_body(
        self,
        key: str,
        info: ObjectInfo,
        body: Any,
        out: BinaryIO,
        written: int,
        progress: Progress,
        cancel: CancelToken,
    ) -> tuple[int, Exception | None]:
        """Copy `body` into `out` (which holds `written` bytes already) to its end, which
        must be the size HEAD reported. Returns the bytes written in all, and the error
        that cut the transfer short (None: it is complete)."""
        from botocore.exceptions import BotoCoreError

        while True:
            try:
                block = body.read(_CHUNK)
            except (BotoCoreError, OSError) as exc:
                return written, exc
            if not block:
                if written != info.size:
                    raise RemoteError(
                        f"the download of {key} from remote {self.name} came out "
                        f"at {written} bytes, but the server reports {info.size}",
                        "retry; if it repeats, the copy on the remote may be damaged",
                    )
                return written, None
            cancel.check()
            if written + len(block) > info.size:
                raise RemoteError(
                    f"{key} on remote {self.name} is longer than the "
                    f"{info.size} bytes the server reports",
                    "retry; if it repeats, run `lifeboat catalog rebuild`",
                )
            out.write(block)
            written += len(block)
            progress("download", written, info.size)
