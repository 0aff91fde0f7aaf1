"""SHA-256, the one way: of a whole file, and of what passes through a file a library
reads or writes (pyrage's age encryption takes file objects, not bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file's bytes (read in blocks: any size, little memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
