"""S3Store: the RemoteStore on boto3, for AWS S3 and S3-compatible services.

Compatibility: botocore's newer default checksum headers are sent and checked only when
an operation requires them (several S3-compatible services reject them); deletes go one
key at a time (COS requires Content-MD5 on DeleteObjects); TLS is always verified unless
the user set `insecure = true` for their own endpoint. Large files go up in parts through
boto3's transfer manager, with a progress callback, cancellation and an optional
bandwidth limit. boto3 is imported here only, so nothing pays for it until remote work.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from lifeboat.core.config import RemoteConfig
from lifeboat.core.progress import CancelToken, Progress
from lifeboat.core.secrets import S3Credentials
from lifeboat.core.units import parse_rate, parse_size
from lifeboat.errors import LifeboatError, RemoteError
from lifeboat.storage.base import ObjectInfo
from lifeboat.storage.s3_errors import translate

log = logging.getLogger(__name__)


class S3Store:
    def __init__(self, remote: RemoteConfig, credentials: S3Credentials | None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.name = remote.name
        self.remote = remote
        self.bucket = remote.bucket
        self.endpoint = remote.resolved_endpoint
        self.where = urlsplit(self.endpoint).hostname if self.endpoint else "AWS S3"
        if remote.insecure:
            log.warning("remote %s: TLS certificate verification is OFF (insecure = true)",
                        remote.name)
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
            connect_timeout=15, read_timeout=60,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra="lifeboat",
        )
        try:
            self.client = session.client("s3", endpoint_url=self.endpoint, config=config,
                                         verify=not remote.insecure)
        except Exception as exc:
            raise translate(exc, self) from None
        rate = parse_rate(remote.max_upload_rate) if remote.max_upload_rate else None
        self.transfer = TransferConfig(
            multipart_threshold=parse_size(remote.multipart_threshold),
            multipart_chunksize=parse_size(remote.part_size),
            max_concurrency=remote.upload_concurrency, use_threads=True,
            max_bandwidth=rate)

    # -- RemoteStore -----------------------------------------------------------------

    def put_file(self, key: str, path: Path, *, metadata: dict[str, str],
                 progress: Progress, cancel: CancelToken) -> None:
        total = path.stat().st_size
        self._transfer("upload", key, path, total, metadata, progress, cancel)

    def put_stream(self, key: str, stream: BinaryIO, *, size_hint: int,
                   metadata: dict[str, str], progress: Progress,
                   cancel: CancelToken) -> None:
        self._transfer("upload", key, stream, size_hint, metadata, progress, cancel)

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str]) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata)
        except Exception as exc:
            raise translate(exc, self, key) from None

    def head(self, key: str) -> ObjectInfo | None:
        try:
            reply = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            error = translate(exc, self, key)
            if getattr(error, "not_found", False):
                return None
            raise error from None
        return ObjectInfo(key, int(reply["ContentLength"]), reply.get("ETag", "").strip('"'),
                          dict(reply.get("Metadata", {})))

    def get_file(self, key: str, dest: Path, *, progress: Progress,
                 cancel: CancelToken) -> None:
        info = self.head(key)
        if info is None:
            raise RemoteError(f"{key} is not on remote {self.name}",
                              "run `lifeboat catalog rebuild` to see what the remote holds")
        self._transfer("download", key, dest, info.size, {}, progress, cancel)

    def get_bytes(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise translate(exc, self, key) from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], int(item["Size"]),
                                     item.get("ETag", "").strip('"'))
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

    def close(self) -> None:
        self.client.close()

    # -- transfers -------------------------------------------------------------------

    def _transfer(self, direction: str, key: str, path: Path | BinaryIO, total: int,
                  metadata: dict[str, str], progress: Progress, cancel: CancelToken) -> None:
        from boto3.s3.transfer import create_transfer_manager
        from s3transfer.subscribers import BaseSubscriber

        done = [0]
        phase = direction

        class Report(BaseSubscriber):  # type: ignore[misc]
            def on_progress(self, future: object, bytes_transferred: int,
                            **kwargs: object) -> None:
                done[0] += bytes_transferred
                progress(phase, min(done[0], total), total)

        class Size(BaseSubscriber):  # type: ignore[misc]
            # A stream's length is not known in advance; the hint spares s3transfer from
            # reading a whole multipart threshold into memory to decide on parts.
            def on_queued(self, future: Any, **kwargs: object) -> None:
                future.meta.provide_transfer_size(total)

        config, subscribers = self.transfer, [Report()]
        if not isinstance(path, Path):
            subscribers.append(Size())
            # A stream's parts are held in memory until sent: a few more than are in flight.
            config = copy.copy(config)
            config.max_in_memory_upload_chunks = config.max_request_concurrency + 1
        manager = create_transfer_manager(self.client, config)
        try:
            if direction == "upload":
                source = str(path) if isinstance(path, Path) else path
                future = manager.upload(source, self.bucket, key,
                                        extra_args={"Metadata": metadata},
                                        subscribers=subscribers)
            else:
                future = manager.download(self.bucket, key, str(path),
                                          subscribers=subscribers)
            while not future.done():
                if cancel.cancelled:
                    future.cancel()
                    break
                time.sleep(0.05)
            try:
                future.result()
            except Exception as exc:
                cancel.check()
                raise translate(exc, self, key) from None
            cancel.check()
        finally:
            manager.shutdown(cancel=cancel.cancelled)
