"""Streaming zstd decompression, hashed and checked, as a three-stage pipeline.

A seekable artifact (format 3) is decompressed frame by frame on two threads instead
(core/decompress_frames.py); what follows is for an artifact of one frame (older ones).

One thread reads the artifact and hashes it (SHA-256), this thread decompresses, and
one thread writes the output. On two cores the write syscalls and the hashing no longer
wait for the decompression, which is what makes a restore close to plain `zstd -d`.
The writer syncs every 64 MiB, so the final fsync is short and the data stays in the
page cache for the integrity check that follows. Memory is bounded: blocks of 1-4 MiB
in queues of fixed length, however well the data compressed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, BinaryIO, cast

import zstandard

from lifeboat.core.decompress_frames import decompress_frames
from lifeboat.core.fsutil import is_disk_full
from lifeboat.core.page_digest import PageDigest
from lifeboat.core.private import open_new
from lifeboat.core.seekable import open_seekable, seek_entries
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.errors import CorruptSnapshot, OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

READ_BLOCK = 1 << 20
WRITE_BLOCK = 4 << 20
_SYNC_EVERY = 64 << 20

#: Called with each block of plain (decompressed) data, in order.
BlockObserver = Callable[[memoryview], None]


@dataclass(frozen=True)
class DecompressResult:
    size: int
    sha256: str
    plain_size: int
    plain_sha256: str  # empty unless asked for
    pages_digest: str = ""  # the content digest (core/page_digest.py), if asked for


def decompress_file(
    source: Path,
    dest: Path | None,
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    hash_plain: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    observer: BlockObserver | None = None,
    durable: bool = True,
    page_size: int = 0,
    written: WrittenSoFar | None = None,
) -> DecompressResult:
    """Decompress `source` into the new file `dest` (fsynced unless not `durable`), or
    nowhere, to check it; with a `page_size`, also its content digest; `written` is told
    how far `dest` is written (a seekable artifact only; else nothing until it is done).

    A SHA-256 that differs from `expected_sha256`, a frame that does not decompress or
    ends early raises CorruptSnapshot, and `dest` is removed.
    """
    cancel = cancel or CancelToken()
    total = os.path.getsize(source)
    _require_size(source, total, expected_size)
    try:
        seekable = open_seekable(source)
        if seekable is None:
            pages = PageDigest(page_size) if page_size else None
            checks = (expected_sha256, hash_plain, progress, cancel)
            result = _decompress_stream(
                source, dest, total, *checks, _observing(observer, pages), durable
            )
            return replace(result, pages_digest=pages.hexdigest() if pages else "")
        with seekable:
            frames = decompress_frames(
                seekable,
                dest,
                hash_plain=hash_plain,
                progress=progress,
                cancel=cancel,
                observer=observer,
                durable=durable,
                page_size=page_size,
                written=written,
            )
        _require_sha(source, frames.sha256, expected_sha256)
        return DecompressResult(
            total, frames.sha256, frames.plain_size, frames.plain_sha256, frames.pages_digest
        )
    except BaseException as exc:
        # FileExistsError: `dest` was already there, so it is not ours to remove.
        if dest is not None and not isinstance(exc, FileExistsError):
            with contextlib.suppress(OSError):
                os.unlink(dest)
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise OperationFailed(
                f"disk full while decompressing {source.name}", "free some space and try again"
            ) from None
        raise


def _observing(observer: BlockObserver | None, pages: PageDigest | None) -> BlockObserver | None:
    """`observer`, also feeding `pages` (either may be None)."""
    if pages is None:
        return observer

    def both(block: memoryview) -> None:
        pages.update(block)
        if observer is not None:
            observer(block)

    return both


def _decompress_stream(
    source: Path,
    dest: Path | None,
    total: int,
    expected_sha256: str | None,
    hash_plain: bool,
    progress: Progress,
    cancel: CancelToken,
    observer: BlockObserver | None,
    durable: bool,
) -> DecompressResult:
    """An artifact of one frame, read from the start: read, decompress and write overlap."""
    with open(source, "rb", buffering=0) as raw:
        expected_plain = _content_size(raw, source)
        reader = ThreadedReader(raw, total, progress, cancel)
        writer = BlockWriter(dest, hash_plain, observer, durable=durable)
        try:
            # zstandard asks for file objects: these have the read/write it uses.
            zstandard.ZstdDecompressor().copy_stream(
                cast(IO[bytes], reader),
                cast(IO[bytes], writer),
                read_size=READ_BLOCK,
                write_size=WRITE_BLOCK,
            )
            reader.drain()
        except zstandard.ZstdError as exc:
            raise CorruptSnapshot(
                f"{source.name} does not decompress: {exc}",
                "the file is damaged; use another snapshot",
            ) from None
        finally:
            reader.stop()
            written = writer.close()
    _require_whole(source, written, expected_plain, reader, expected_sha256)
    return DecompressResult(total, reader.hexdigest(), written, writer.plain_hexdigest())


def _require_size(source: Path, total: int, expected_size: int | None) -> None:
    """The artifact must have the size its manifest says (when it says one)."""
    if expected_size is not None and total != expected_size:
        raise CorruptSnapshot(
            f"{source.name} has {total} bytes, its manifest says {expected_size}",
            "the file is truncated or damaged; use another snapshot",
        )


def _require_whole(
    source: Path,
    written: int,
    expected_plain: int,
    reader: ThreadedReader,
    expected_sha256: str | None,
) -> None:
    """The frame must decompress to its recorded size, and the artifact's SHA-256 must be
    its manifest's (when given)."""
    if written != expected_plain:
        raise CorruptSnapshot(
            f"{source.name} is truncated: {written} of {expected_plain} bytes decompress",
            "the file is damaged; use another snapshot",
        )
    _require_sha(source, reader.hexdigest(), expected_sha256)


def _require_sha(source: Path, sha256: str, expected_sha256: str | None) -> None:
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise CorruptSnapshot(
            f"{source.name}: SHA-256 does not match its manifest",
            "the file is damaged; use another snapshot",
        )


def _content_size(raw: BinaryIO, source: Path) -> int:
    """The plain size the artifact records: its seek table's sum (a seekable artifact),
    else its one frame's content size."""
    entries = seek_entries(source)
    if entries is not None:
        return sum(entry.decompressed for entry in entries)
    head = raw.read(18)
    raw.seek(0)
    try:
        size = zstandard.frame_content_size(head)
    except zstandard.ZstdError:
        raise CorruptSnapshot(
            f"{source.name} is not a zstd file", "the file is damaged; use another snapshot"
        ) from None
    if size < 0:
        raise CorruptSnapshot(
            f"{source.name} does not record its content size", "it was not written by Lifeboat"
        )
    return int(size)


class ThreadedReader:
    """Reads and hashes a file in its own thread; `read()` hands its blocks over (whatever
    size is asked for); `count` and `hexdigest()` tell what was read."""

    def __init__(self, raw: BinaryIO, total: int, progress: Progress, cancel: CancelToken):
        self._raw = raw
        self._total = total
        self._progress = progress
        self._cancel = cancel
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(16)
        self._stopped = threading.Event()
        self._eof = False
        self.count = 0
        self._thread = threading.Thread(target=self._run, name="lifeboat-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                block = self._raw.read(READ_BLOCK)
                self._digest.update(block)
                self._put(block)
                if not block:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        self._cancel.check()
        if self._eof:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self._eof = not item
        self.count += len(item)
        self._progress("decompress", self.count, self._total)
        return item

    def drain(self) -> None:
        """Read what follows the frame too, so trailing bytes count in the hash."""
        while self.read():
            pass

    def stop(self) -> None:
        self._stopped.set()

    def hexdigest(self) -> str:
        self._thread.join(timeout=5)
        return self._digest.hexdigest()


class _Worker:
    """A thread applying `consume` to each item it is given, in order; an error stops
    the work and is raised to the giver at the next `put` or at `finish`."""

    def __init__(self, name: str, consume: Callable[[bytes], object]) -> None:
        self._consume = consume
        self._queue: queue.Queue[bytes | None] = queue.Queue(8)  # None: the end
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(item)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the giver never blocks
            try:
                self._consume(item)
            except BaseException as exc:
                self.error = exc


class BlockWriter:
    """Writes blocks to a new file (or nowhere) in one thread while another hashes them
    (if asked); `write()` hands them over, `close()` fsyncs and reports errors."""

    def __init__(
        self,
        dest: Path | None,
        hash_plain: bool,
        observer: BlockObserver | None,
        *,
        durable: bool = True,
    ):
        # A scratch file read once and deleted (a restore preview) needs no fsync.
        self._durable = durable
        self._fh = open_new(dest, buffering=0) if dest is not None else None
        self._digest = hashlib.sha256() if hash_plain else None
        self._observer = observer
        self.count = 0
        self._synced = 0
        self._writer = _Worker("lifeboat-write", self._consume)
        # Hashing (a SHA-256, the observer's page hashes) in a thread of its own: beside
        # the writer's, not between its writes (a rebuild on parallel frames waited on it)
        hashes = self._digest is not None or observer is not None
        self._hasher = _Worker("lifeboat-hash", self._hash) if hashes else None

    def write(self, data: bytes) -> int:
        block = bytes(data)
        if self._hasher is not None:
            self._hasher.put(block)
        self._writer.put(block)
        return len(block)

    def _hash(self, block: bytes) -> None:
        if self._digest is not None:
            self._digest.update(block)
        if self._observer is not None:
            self._observer(memoryview(block))

    def _consume(self, block: bytes) -> None:
        if self._fh is not None:
            self._fh.write(block)
        self.count += len(block)
        if self._fh is not None and self._durable and self.count - self._synced >= _SYNC_EVERY:
            _datasync(self._fh.fileno())
            self._synced = self.count

    def close(self) -> int:
        """Finish writing and hashing, fsync and close; raise what a thread met.

        Always stops the threads and closes the file, also when called while unwinding.
        """
        errors: list[BaseException] = []
        for worker in (self._hasher, self._writer):
            if worker is not None:
                try:
                    worker.finish()
                except BaseException as exc:
                    errors.append(exc)
        try:
            if not errors and self._fh is not None and self._durable:
                os.fsync(self._fh.fileno())
        finally:
            if self._fh is not None:
                self._fh.close()
        if errors:
            raise errors[0]
        return self.count

    def plain_hexdigest(self) -> str:
        return self._digest.hexdigest() if self._digest is not None else ""


def _datasync(fd: int) -> None:
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS, Windows
        os.fsync(fd)
