"""Streaming zstd compression with SHA-256 in the same pass (decompress.py: the way back).

Memory stays bounded whatever the file size: data moves in fixed-size blocks. The
compressed stream is a standard zstd frame (with content size and checksum), so stock
`zstd -d` reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

import xxhash
import zstandard

from lifeboat.core.direct_stream import DirectStream
from lifeboat.core.fsutil import is_disk_full
from lifeboat.core.private import open_new
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

BLOCK = 4 << 20

#: Called with each block of plain (uncompressed) data, in order.
BlockObserver = Callable[[memoryview], None]


@dataclass(frozen=True)
class CompressResult:
    size: int
    sha256: str
    plain_size: int
    plain_sha256: str
    # xxh3-128 of the same bytes as `sha256` (the artifact's): a later proof that they
    # are still as written costs a tenth of re-hashing them (core/hashing.py)
    xxh3: str = ""


_WRITEBACK_EVERY = 16 << 20


class _HashingSink:
    """A file-like sink that hashes (SHA-256 and xxh3-128) and counts what it writes.

    Written through the page cache (`fh`), every 16 MiB it asks the kernel to start
    writing the data out (where it can), so the final fsync is short: one large fsync at
    the end stalls every other fsync on the disk, including the commits of the
    application whose database we copy. Given a `stream` (core/direct_stream.py), it
    writes there instead, around the cache: nothing is left to write back; the stream's
    writer thread then feeds `digest` and `xxh3` (made with them), not this one.
    """

    def __init__(
        self,
        fh: BinaryIO,
        digest: hashlib._Hash,
        stream: DirectStream | None = None,
        xxh3: xxhash.xxh3_128 | None = None,
    ) -> None:
        self._fh = fh
        self._digest = digest
        self._stream = stream
        self.xxh3 = xxh3 or xxhash.xxh3_128()
        self.count = 0
        self._flushed = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        if self._stream is not None:
            self._stream.write(data)  # its writer hashes it (given `digest` and `xxh3`)
            return len(data)
        self._digest.update(data)
        self.xxh3.update(data)
        self._fh.write(data)
        if self.count - self._flushed >= _WRITEBACK_EVERY:
            self._start_writeback()
        return len(data)

    def _start_writeback(self) -> None:
        fh = self._fh
        fh.flush()
        if hasattr(os, "posix_fadvise"):
            # On Linux, DONTNEED on dirty pages starts their writeback without waiting.
            os.posix_fadvise(
                fh.fileno(), self._flushed, self.count - self._flushed, os.POSIX_FADV_DONTNEED
            )
        self._flushed = self.count

    def flush(self) -> None:
        self._fh.flush()


def compress_file(
    source: Path,
    dest: Path,
    *,
    level: int = 3,
    threads: int = -1,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    observer: BlockObserver | None = None,
    hash_plain: bool = True,
) -> CompressResult:
    """Compress the file `source` into the new file `dest` (fsynced)."""
    total = os.path.getsize(source)
    with open(source, "rb", buffering=0) as fin:
        result = compress_blocks(
            read_blocks(fin),
            dest,
            size=total,
            level=level,
            threads=threads,
            progress=progress,
            cancel=cancel,
            observer=observer,
            hash_plain=hash_plain,
        )
    if result.plain_size != total:
        raise OperationFailed(f"{source} changed size while it was compressed")
    return result


class ReadsInto(Protocol):
    """A file opened in binary mode: `readinto` fills a buffer, 0 at its end."""

    def readinto(self, buffer: bytearray, /) -> int | None: ...


def read_blocks(fin: ReadsInto, block: int = BLOCK) -> Iterator[memoryview]:
    """Blocks of a file opened in binary mode, reusing one buffer."""
    buf = bytearray(block)
    view = memoryview(buf)
    while n := fin.readinto(buf):
        yield view[:n]


@contextlib.contextmanager
def removed_on_failure(dest: Path, fout: BinaryIO) -> Iterator[BinaryIO]:
    """Write the file `dest` just created (`fout`, closed at the end); removed if anything
    fails or is cancelled, a full disk said as such."""
    try:
        with fout:
            yield fout
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        if is_disk_full(exc):
            raise OperationFailed(
                f"disk full while writing {dest.name} in {dest.parent}",
                "free some space there and try again",
            ) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise


def compress_blocks(
    blocks: Iterable[memoryview | bytes],
    dest: Path,
    *,
    size: int | None,
    level: int = 3,
    threads: int = -1,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    observer: BlockObserver | None = None,
    hash_plain: bool = True,
) -> CompressResult:
    """Compress `size` bytes (None: not known ahead) given as blocks into the new file
    `dest` (fsynced).

    The compressed output is always hashed (SHA-256); the plain input too unless
    `hash_plain` is false (then `plain_sha256` is empty). On any error or cancel, `dest`
    is removed.
    """
    cancel = cancel or CancelToken()
    out_digest = hashlib.sha256()
    in_digest = hashlib.sha256()
    cctx = zstandard.ZstdCompressor(
        level=level, threads=threads, write_checksum=True, write_content_size=True
    )
    # Created first: a name that was taken is someone else's file, never removed.
    with removed_on_failure(dest, open_new(dest)) as fout:
        sink = _HashingSink(fout, out_digest)
        # Not a `with` block: on an error the frame must not be finished.
        # zstandard asks for a file object: the sink has the write and flush it uses.
        writer = cctx.stream_writer(
            cast(IO[bytes], sink), size=-1 if size is None else size, closefd=False
        )
        done = _feed(
            blocks, writer, in_digest if hash_plain else None, observer, size, progress, cancel
        )
        if size is not None and done != size:
            raise OperationFailed(f"expected {size} bytes to compress, got {done}")
        writer.flush(zstandard.FLUSH_FRAME)
        fout.flush()
        os.fsync(fout.fileno())
    plain_sha = in_digest.hexdigest() if hash_plain else ""
    return CompressResult(
        sink.count, out_digest.hexdigest(), done, plain_sha, sink.xxh3.hexdigest()
    )


def _feed(
    blocks: Iterable[memoryview | bytes],
    writer: zstandard.ZstdCompressionWriter,
    plain_digest: hashlib._Hash | None,
    observer: BlockObserver | None,
    size: int | None,
    progress: Progress,
    cancel: CancelToken,
) -> int:
    """Hand each block to the compressor (and to the plain hash and `observer`, if
    any); return how many bytes were given."""
    done = 0
    for block in blocks:
        if plain_digest is not None:
            plain_digest.update(block)
        if observer is not None:
            observer(memoryview(block))
        writer.write(block)
        done += len(block)
        if size is not None:
            progress("compress", done, size)
        cancel.check()
    return done
