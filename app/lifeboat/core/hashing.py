"""SHA-256, the one way: of a whole file, and of what passes through a file a library
reads or writes (pyrage's age encryption takes file objects, not bytes); and the
quicker proof that an artifact is still as written (its xxh3-128, recorded beside its
SHA-256 when it was written: docs/SAFETY.md, "The safety snapshot")."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import xxhash

#: The manifest's `extra` key for the artifact's xxh3-128, bound to the SHA-256 it was
#: recorded with: {"sha256": ..., "xxh3_128": ...}.
ARTIFACT_XXH3 = "artifact_xxh3"
_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file's bytes (read in blocks: any size, little memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def xxh3_file(path: Path) -> str:
    """The hex xxh3-128 of the file's bytes (about ten times SHA-256's speed)."""
    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as fh:
        block = bytearray(_BLOCK)
        view = memoryview(block)
        while read := fh.readinto(block):
            digest.update(view[:read])
    return digest.hexdigest()


def xxh3_record(sha256: str, xxh3: str) -> dict[str, str]:
    """What a manifest records of its plain artifact's xxh3-128 (ARTIFACT_XXH3)."""
    return {"sha256": sha256, "xxh3_128": xxh3}


def still_as_written(path: Path, sha256: str, extra: Mapping[str, object]) -> bool:
    """Whether the file `path` still holds the bytes whose SHA-256 is `sha256`: by the
    xxh3-128 recorded with that very SHA-256 when the file was written (a copy damaged
    by accident keeps a 128-bit hash with odds of 2^-128), else by its SHA-256. A
    recorded xxh3 that does not match is not taken as damage: the SHA-256 decides."""
    recorded = extra.get(ARTIFACT_XXH3)
    if (
        isinstance(recorded, dict)
        and recorded.get("sha256") == sha256
        and isinstance(recorded.get("xxh3_128"), str)
        and xxh3_file(path) == recorded["xxh3_128"]
    ):
        return True
    return sha256_file(path) == sha256


class HashingFile:
    """A file as a library sees it: what is read from it or written to it is hashed and
    counted, and an OSError is kept, because libraries such as pyrage wrap it in their
    own error and the caller needs the real one (a full disk says what to do)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()
        self.count = 0
        self.error: OSError | None = None

    def hexdigest(self) -> str:
        return self.digest.hexdigest()

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._fh.read(size)
        except OSError as exc:
            self.error = exc
            raise
        self.digest.update(data)
        self.count += len(data)
        return data

    def readinto(self, buffer: bytearray) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: bytes) -> int:
        try:
            self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise
        self.digest.update(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self._fh.flush()
