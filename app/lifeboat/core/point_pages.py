"""The pages of any backup point, one at a time, without rebuilding the database.

`PointPages` is the one seam every reader of a point in time uses (query and browse
through the VFS in core/point_vfs.py, row history, merge restore): `page(n)` gives page n
(1-based, as SQLite numbers pages) of the point's database, exactly as the point holds
it (page 1's header included: a WAL image says so in bytes 18-19; the VFS presents it as
a rollback-journal file). Implementations:

- a full snapshot, by what its artifact allows:
  - `SeekablePages`: an artifact ending with a zstd seek table (frames of whole pages):
    a page is read by decompressing its frame, checked against the table's XXH64; the
    frames last used are kept (a bounded LRU);
  - `ExtractingPages`: an artifact of one zstd frame (every snapshot before format 3):
    decompressed forward, once, into a private file of the run's scratch space, only as
    far as the highest page asked for; pages are read back from there (removed on close);
- a differential (`DiffPages`, core/point_diff.py): its base's pages with the
  differential's own records laid over them (the records, unpacked once into the
  scratch space, found by page number);
- a point of a continuous history (`HistoryPages`, core/point_diff.py): the chain's base
  read as above, the segments' newer images found through their indexes
  (core/history/page_reader.ChainState).

`Service.open_point` puts a `CachedPages` in front of any of them: the pages read last
(48 MiB) stay in memory, so going back to them costs nothing.

What these read informs; it never restores: a partial read cannot check an artifact's
SHA-256 (zstd's and the seek table's frame checksums are checked where there are any).
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import IO, Protocol, cast

import zstandard

from lifeboat.core.private import create_file
from lifeboat.core.runs import Run
from lifeboat.core.seekable import open_seekable, seek_entries
from lifeboat.foundation.errors import CorruptSnapshot

#: decompressed frames kept by a seekable artifact's reader (1 MiB each, as written)
FRAME_CACHE_BYTES = 32 << 20
#: pages kept by CachedPages in front of any point (what a reader went back to last)
PAGE_CACHE_BYTES = 48 << 20
_EXTRACT_BLOCK = 4 << 20


class PointPages(Protocol):
    """The pages of one point's database."""

    page_size: int
    page_count: int

    def page(self, number: int) -> bytes:
        """Page `number` (1-based); zeros past what the point holds is an error."""
        ...

    def close(self) -> None: ...


class CachedPages:
    """Any PointPages with the pages read last kept in memory (a bounded LRU)."""

    def __init__(self, pages: PointPages, cache_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.inner = pages
        self.page_size, self.page_count = pages.page_size, pages.page_count
        self._keep = max(16, cache_bytes // pages.page_size)
        self._pages: OrderedDict[int, bytes] = OrderedDict()

    def page(self, number: int) -> bytes:
        data = self._pages.get(number)
        if data is not None:
            self._pages.move_to_end(number)
            return data
        data = self.inner.page(number)
        self._pages[number] = data
        if len(self._pages) > self._keep:
            self._pages.popitem(last=False)
        return data

    def close(self) -> None:
        self._pages.clear()
        self.inner.close()


def check_number(pages: PointPages, number: int) -> None:
    if not 1 <= number <= pages.page_count:
        raise IndexError(f"page {number} is not in a database of {pages.page_count} pages")


class ScratchFile:
    """A private work file of the run (core/private.create_file), written and read by
    offset, removed on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write: int | None = create_file(path)
        self._read: int | None = None
        try:
            self._read = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except BaseException:
            self.close()
            raise

    def write(self, data: bytes, offset: int) -> None:
        assert self._write is not None, "write after close"
        os.pwrite(self._write, data, offset)

    def read(self, size: int, offset: int) -> bytes:
        assert self._read is not None, "read after close"
        return os.pread(self._read, size, offset)

    def close(self) -> None:
        for fd in (self._write, self._read):
            if fd is not None:
                os.close(fd)
        if self._write is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._write = self._read = None


class FilePages:
    """The pages of a plain database file (read with pread; `owned`: removed on close)."""

    def __init__(self, path: Path, page_size: int, page_count: int, *, owned: bool) -> None:
        self.page_size, self.page_count = page_size, page_count
        self._path, self._owned = path, owned
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)

    def page(self, number: int) -> bytes:
        check_number(self, number)
        assert self._fd is not None, "read after close"
        data = os.pread(self._fd, self.page_size, (number - 1) * self.page_size)
        if len(data) != self.page_size:
            raise CorruptSnapshot(f"{self._path.name} ends before page {number}")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._owned:
            with contextlib.suppress(OSError):
                os.unlink(self._path)


class ExtractingPages:
    """A one-frame artifact, decompressed forward into a scratch file as far as asked."""

    def __init__(
        self, artifact: Path, page_size: int, page_count: int, run: Run, scratch: Path
    ) -> None:
        self.page_size, self.page_count = page_size, page_count
        self.artifact = artifact
        self.extracted = 0  # pages written to the scratch file so far
        self._file = ScratchFile(run.work_path(scratch, "point"))
        self._raw: IO[bytes] | None = open(artifact, "rb")  # noqa: SIM115 - kept across calls
        self._stream: zstandard.ZstdDecompressionReader | None = None
        try:
            self._stream = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], self._raw), read_across_frames=True
            )
        except BaseException:
            self.close()
            raise

    def page(self, number: int) -> bytes:
        check_number(self, number)
        if number > self.extracted:
            self._extract_to(number)
        return self._file.read(self.page_size, (number - 1) * self.page_size)

    def _extract_to(self, number: int) -> None:
        """Decompress on (whole blocks) until page `number` is in the scratch file."""
        assert self._stream is not None, "read after close"
        size = self.page_size
        block_pages = max(1, _EXTRACT_BLOCK // size)
        while self.extracted < number:
            want = min(block_pages, self.page_count - self.extracted) * size
            try:
                data = _read_full(self._stream, want)
            except zstandard.ZstdError as exc:
                raise CorruptSnapshot(f"{self.artifact.name} does not decompress ({exc})") from None
            if len(data) != want:
                raise CorruptSnapshot(
                    f"{self.artifact.name} ends before page {number}", "use another snapshot"
                )
            self._file.write(data, self.extracted * size)
            self.extracted += want // size
        if self.extracted == self.page_count:
            self._close_stream()

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def close(self) -> None:
        self._close_stream()
        self._file.close()


def _read_full(reader: zstandard.ZstdDecompressionReader, size: int) -> bytes:
    parts, left = [], size
    while left:
        chunk = reader.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class SeekablePages:
    """A full artifact ending with a zstd seek table (format 3; frames of whole pages),
    read through core/seekable.py: a page costs its frame, checked; recent frames are
    kept (a bounded LRU)."""

    def __init__(
        self,
        artifact: Path,
        page_size: int,
        page_count: int,
        *,
        cache_bytes: int = FRAME_CACHE_BYTES,
    ) -> None:
        self.page_size, self.page_count = page_size, page_count
        self.artifact = artifact
        reader = open_seekable(artifact, cache_frames=max(2, cache_bytes // (1 << 20)))
        if reader is None:
            raise CorruptSnapshot(f"{artifact.name} has no readable seek table")
        if reader.plain_size < page_count * page_size:
            reader.close()
            raise CorruptSnapshot(f"{artifact.name} holds fewer pages than its manifest says")
        self._reader = reader

    @property
    def decompressed(self) -> int:
        """Frames decompressed so far (for tests and the bench)."""
        return self._reader.frames_read

    def page(self, number: int) -> bytes:
        check_number(self, number)
        data = self._reader.read((number - 1) * self.page_size, self.page_size)
        if len(data) != self.page_size:
            raise CorruptSnapshot(f"{self.artifact.name}: page {number} is cut short")
        return data

    def close(self) -> None:
        self._reader.close()


def full_pages(
    artifact: Path, page_size: int, page_count: int, run: Run, scratch: Path
) -> PointPages:
    """A full artifact's pages: through its seek table if it has one, else extracted
    forward into the run's scratch space as far as asked."""
    if seek_entries(artifact) is not None:
        return SeekablePages(artifact, page_size, page_count)
    return ExtractingPages(artifact, page_size, page_count, run, scratch)
