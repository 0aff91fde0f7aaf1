"""Whether a database file changed, from its header alone: no lock, no SQLite connection.

A rollback-journal database increments its file change counter (bytes 24..27 of the
header) with every committed transaction; bytes 18 and 19 say whether it is in WAL mode
(2) or not (1). `MarkReader` reads those 100 bytes with a plain `pread` through the
descriptor core/kept_descriptors.py keeps open for the file: closing a descriptor of
the database would drop every POSIX lock this process holds on it (SQLite's own, e.g. a
backup's stepped copy running in another thread), so a watch that ends closes nothing.

`ChangeWatch` decides when a change is due to be captured: the mark moved since the one
the last capture started from, and at least `every_s` passed since that capture began.
Pure logic on plain data, the clock given by the caller.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.kept_descriptors import read_start

_HEADER = 100
_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class ChangeMark:
    """What the file's header and `stat` say now."""

    counter: int  # the file change counter (bytes 24..27)
    wal: bool  # in WAL mode (bytes 18 and 19 are 2)
    size: int
    mtime_ns: int

    def moved_from(self, other: ChangeMark | None) -> bool:
        """Changed since `other` was read (None: never read, so it may have)."""
        return other is None or (self.counter, self.size, self.mtime_ns) != (
            other.counter,
            other.size,
            other.mtime_ns,
        )


def mark_of(header: bytes, size: int, mtime_ns: int) -> ChangeMark | None:
    """The mark in a header's bytes; None when they are not a SQLite header (yet)."""
    if len(header) < _HEADER or not header.startswith(_MAGIC):
        return None
    return ChangeMark(
        counter=int.from_bytes(header[24:28], "big"),
        wal=header[18] == 2 and header[19] == 2,
        size=size,
        mtime_ns=mtime_ns,
    )


class MarkReader:
    """Reads a database file's change mark through a descriptor that stays open (see
    above)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> ChangeMark | None:
        """The mark now; None when the file is not there or not a database (for now)."""
        try:
            header, now = read_start(self.path, _HEADER)
        except FileNotFoundError:
            return None
        return mark_of(header, now.st_size, now.st_mtime_ns)

    def close(self) -> None:
        """The watch ends; its descriptor stays open (closing it would drop SQLite's
        locks on the file in this process)."""


class ChangeWatch:
    """When to capture a rollback-journal database again. The capture host calls `due`
    with the mark it just read; `began` when a capture of that mark started, `failed` if
    it did not finish (the same change is due again after `every_s`). Thread-safe: a
    capture ends in another thread."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._captured: ChangeMark | None = None  # the mark the last capture started from
        self._began: float | None = None
        self._lock = threading.Lock()

    def due(self, mark: ChangeMark, now: float) -> bool:
        with self._lock:
            if not mark.moved_from(self._captured):
                return False
            return self._began is None or now - self._began >= self.every_s

    def began(self, mark: ChangeMark, now: float) -> None:
        with self._lock:
            self._captured, self._began = mark, now

    def failed(self) -> None:
        with self._lock:
            self._captured = None
