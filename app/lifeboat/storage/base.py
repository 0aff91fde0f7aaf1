"""The one interface every remote store implements (S3 today)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from lifeboat.core.progress import CancelToken, Progress


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class RemoteStore(Protocol):
    """Objects by key. Every method raises RemoteError (or a LifeboatError) on failure."""

    name: str

    def put_file(self, key: str, path: Path, *, metadata: dict[str, str],
                 progress: Progress, cancel: CancelToken) -> None: ...

    def put_stream(self, key: str, stream: BinaryIO, *, size_hint: int,
                   metadata: dict[str, str], progress: Progress,
                   cancel: CancelToken) -> None:
        """Upload what `stream` yields until its end (length unknown in advance;
        `size_hint` is for progress only), holding only a few parts in memory."""
        ...

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str]) -> None: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def get_file(self, key: str, dest: Path, *, progress: Progress,
                 cancel: CancelToken) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...

    def close(self) -> None: ...
