"""Random reads in a seekable artifact (format 3, core/seekable_write.py writes them).

`open_seekable(path)` finds the seek table at the file's end; an artifact without one
(an old single-frame artifact, or a seek table cut short) gives None and is read from
the start as before. `read(offset, size)` decompresses only the frames that hold those
plain bytes, keeps a few in a small cache, and checks each one: zstd's own checksum,
its plain size and the seek table's XXH64 checksum. A frame that fails a check is proven
damage of the file (its bytes contradict its own table): CorruptSnapshot says which.
"""

from __future__ import annotations

import bisect
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import zstandard

from lifeboat.core.history.seektable import (
    SeekEntry,
    SeekTableError,
    frame_checksum,
    read_seek_table,
    zstd_checks_it,
)
from lifeboat.foundation.errors import CorruptSnapshot


def seek_entries(path: Path) -> Sequence[SeekEntry] | None:
    """The seek table of the artifact at `path` (None: it has none)."""
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            return read_seek_table(lambda at, n: os.pread(fh.fileno(), n, at), size)
        except SeekTableError:
            return None


def open_seekable(path: Path, *, cache_frames: int = 4) -> SeekableArtifact | None:
    """The artifact at `path` opened for random reads, or None if it has no seek table."""
    artifact = SeekableArtifact(path, cache_frames=cache_frames)
    if artifact.entries is None:
        artifact.close()
        return None
    return artifact


class SeekableArtifact:
    """An artifact opened for random reads of its plain bytes. Use as a context manager,
    or close(). `entries` is None when the file has no seek table (then nothing can be
    read through it)."""

    def __init__(self, path: Path, *, cache_frames: int = 4) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_frames = max(1, cache_frames)
        self.frames_read = 0  # frames decompressed (for tests and benches)
        self.entries: Sequence[SeekEntry] | None = None
        try:
            size = os.fstat(self._fd).st_size
            self.entries = read_seek_table(self._read_at, size)
        except SeekTableError:
            pass
        except BaseException:
            os.close(self._fd)
            raise
        # arrays, not lists: one item per 128 KiB frame, 80,000 for 10 GiB
        self._offsets = array("q")  # where each frame starts in the file
        self._starts = array("q")  # where each frame's plain bytes start
        self._data = array("q")  # the frames holding plain bytes, in order
        at = plain = 0
        for number, entry in enumerate(self.entries or []):
            self._offsets.append(at)
            if entry.decompressed:
                self._starts.append(plain)
                self._data.append(number)
            at += entry.compressed
            plain += entry.decompressed
        self.plain_size = plain

    def _read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def __enter__(self) -> SeekableArtifact:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._cache.clear()

    def read(self, offset: int, size: int) -> bytes:
        """The plain bytes [offset, offset + size) (fewer past the end)."""
        if offset < 0 or size < 0:
            raise ValueError("offset and size must not be negative")
        end = min(offset + size, self.plain_size)
        parts = []
        while offset < end:
            k = bisect.bisect_right(self._starts, offset) - 1
            plain = self.frame(self._data[k])
            start = offset - self._starts[k]
            piece = plain[start : start + (end - offset)]
            parts.append(piece)
            offset += len(piece)
        return b"".join(parts)

    def frame(self, number: int) -> bytes:
        """The plain bytes of frame `number`, checked (kept in the cache)."""
        cached = self._cache.get(number)
        if cached is not None:
            self._cache.move_to_end(number)
            return cached
        plain = self.decompress_frame(number)
        self._cache[number] = plain
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return plain

    def raw_frame(self, number: int) -> bytes:
        """The stored bytes of frame `number` as they are (a skippable frame's too)."""
        assert self.entries is not None
        return self._read_at(self._offsets[number], self.entries[number].compressed)

    def decompress_frame(self, number: int) -> bytes:
        """Frame `number` read and decompressed now (no cache: safe from any thread)."""
        return self.read_frame(number)[1]

    def trailer(self) -> bytes:
        """The file's bytes after its last frame: the seek table (with the frames' raw
        bytes, what a hash of the whole file needs)."""
        assert self.entries is not None
        end = self._offsets[-1] + self.entries[-1].compressed if self.entries else 0
        return self._read_at(end, os.fstat(self._fd).st_size - end)

    def read_frame(self, number: int) -> tuple[bytes, bytes]:
        """Frame `number` as stored and decompressed (b"" for a skippable frame), checked
        now: no cache, safe from any thread (core/seekable_parallel.py)."""
        assert self.entries is not None
        entry = self.entries[number]
        raw = self.raw_frame(number)
        where = f"{self.path.name}: frame {number}"
        if len(raw) != entry.compressed:
            raise CorruptSnapshot(f"{where} is cut short", "use another snapshot")
        if not entry.decompressed:
            return raw, b""
        try:
            plain = _decompressor().decompress(raw, max_output_size=entry.decompressed)
        except zstandard.ZstdError as exc:
            raise CorruptSnapshot(
                f"{where} does not decompress ({exc})", "use another snapshot"
            ) from None
        if len(plain) != entry.decompressed:
            raise CorruptSnapshot(
                f"{where} holds {len(plain)} bytes, its seek table says {entry.decompressed}",
                "use another snapshot",
            )
        if (
            entry.checksum is not None
            and not zstd_checks_it(raw, entry.checksum)
            and frame_checksum(plain) != entry.checksum
        ):
            raise CorruptSnapshot(
                f"{where} does not match its checksum in the seek table", "use another snapshot"
            )
        self.frames_read += 1
        return raw, plain


_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (one is not safe to share between threads; making one
    for every 128 KiB frame costs more than the frame)."""
    made: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if made is None:
        made = _local.dctx = zstandard.ZstdDecompressor()
    return made
