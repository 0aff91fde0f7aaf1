"""Writing a large new file around the page cache (O_DIRECT) where the file system allows.

Why: a restore writes a whole database (1.4 GB for the bench's point) and must fsync it.
Through the page cache the kernel copies every byte into pages it allocates, then the
fsync (or the writeback started early, core/writeback.py) writes them out: measured here
(ext4 on a virtio disk, 1.4 GB from Python, 16 MiB writes, fsync included) 1.7-4.7 s
buffered against 0.5-0.9 s with O_DIRECT, whose writes go from our buffers to the disk
and leave nothing dirty. It also leaves the page cache to the applications (a 10 GiB
restore no longer evicts everything else).

`DirectWrites(fd, unit)` opens a second descriptor of the caller's new file with
O_DIRECT (through /proc/self/fd: the same file, whatever its path has become) when every
write will be whole multiples of 4096 bytes at offsets that are too (`unit`: a database
page of 4096 bytes or more). Where that is refused (a file system without direct I/O)
or a direct write is (EINVAL: a device with larger sectors), writes go through the
caller's descriptor, buffered, from then on: the bytes written are the same either way.
`write_cached` writes through the page cache on purpose: pages the caller reads back
soon (a restore's check reads the b-trees the commits touched).

Direct I/O also wants the memory aligned: each write is copied into a page-aligned
buffer of the writing thread (an anonymous mmap of BUFFER bytes) and written a buffer at
a time, a copy in user space that costs far less than the kernel's. A direct write
waits for the disk: the caller gathers what follows in the file into one call.

Durability is still the caller's fsync: O_DIRECT does not flush the disk's cache or the
file's size and blocks. What is read back afterwards comes from the disk.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Sequence

Buffer = bytes | bytearray | memoryview

#: the alignment asked of a direct write's offset, length and memory
ALIGN = 4096
#: bytes of each writing thread's aligned buffer (measured: 1.4 GB in 1 MiB direct
#: writes from 4 threads 0.8 s, in 4 MiB ones 0.5-0.7 s, in 16 MiB 0.5 s)
BUFFER = 4 << 20
#: pieces at most in one pwritev (IOV_MAX is 1024 on Linux)
_PIECES = 512
_O_DIRECT = getattr(os, "O_DIRECT", 0)


class DirectWrites:
    """Positional writes to the file of `fd`, direct where they can be (see the module's
    docstring). Errors are the OSError of the write. `close` closes only what it opened."""

    def __init__(self, fd: int, unit: int, *, allowed: bool = True) -> None:
        self.fd = fd
        self._local = threading.local()
        self._direct_fd = _direct_descriptor(fd) if allowed and unit % ALIGN == 0 else None
        self._refused: int | None = None  # a direct descriptor no longer written through

    @property
    def direct(self) -> bool:
        return self._direct_fd is not None

    def write(self, data: Buffer, offset: int) -> None:
        """All of `data` at `offset`."""
        self.write_pieces([data], offset)

    def write_pieces(self, pieces: Sequence[Buffer], offset: int) -> None:
        """The pieces one after the other at `offset` (direct: gathered into this
        thread's buffer; buffered: pwritev)."""
        if self._direct_fd is None:
            self.write_cached(pieces, offset)
            return
        buffer = self._buffer()
        filled = 0
        for piece in pieces:
            view = memoryview(piece).cast("B")
            while view:
                take = min(len(view), BUFFER - filled)
                buffer[filled : filled + take] = view[:take]
                filled, view = filled + take, view[take:]
                if filled == BUFFER:
                    self._write_aligned(buffer, filled, offset)
                    offset, filled = offset + filled, 0
        if filled:
            self._write_aligned(buffer, filled, offset)

    def write_buffer(self, buffer: mmap.mmap, length: int, offset: int) -> None:
        """The first `length` bytes of the caller's page-aligned `buffer` at `offset`:
        direct when both are whole multiples of ALIGN, else through the page cache."""
        self._write_aligned(buffer, length, offset)

    def write_cached(self, pieces: Sequence[Buffer], offset: int) -> None:
        """The pieces at `offset` through the page cache (the caller's descriptor)."""
        for at in range(0, len(pieces), _PIECES):
            batch = pieces[at : at + _PIECES]
            _pwritev_all(self.fd, batch, offset)
            offset += sum(len(memoryview(piece).cast("B")) for piece in batch)

    def close(self) -> None:
        """Close the direct descriptor. Its error is raised (OSError): on a network or
        FUSE file system close(2) flushes the file and reports what failed (the pages
        written through the cache by the caller's descriptor included). The descriptor
        is gone either way (Linux), and a second call closes nothing."""
        opened = [fd for fd in (self._direct_fd, self._refused) if fd is not None]
        self._direct_fd = self._refused = None
        failed: OSError | None = None
        for fd in opened:
            try:
                os.close(fd)
            except OSError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def _buffer(self) -> mmap.mmap:
        buffer: mmap.mmap | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = mmap.mmap(-1, BUFFER)
        return buffer

    def _write_aligned(self, buffer: mmap.mmap, length: int, offset: int) -> None:
        view = memoryview(buffer)[:length]
        try:
            fd = self._direct_fd
            if fd is None or length % ALIGN or offset % ALIGN:
                self.write_cached([view], offset)
                return
            try:
                _pwrite_all(fd, view, offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                # The kernel refused a direct write: buffered from now on, in every
                # thread (the descriptor stays open until close: another thread may be
                # writing through it); this write again, buffered.
                self._direct_fd = None
                self._refused = fd
                self.write_cached([view], offset)
        finally:
            view.release()


def _direct_descriptor(fd: int) -> int | None:
    """A second descriptor of `fd`'s file, written around the page cache; None where
    the system has no O_DIRECT, it is turned off, or the file system refuses it."""
    if not _O_DIRECT or os.environ.get("LIFEBOAT_BUFFERED_WRITES"):
        return None
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | _O_DIRECT | os.O_CLOEXEC)
    except OSError:
        return None


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _pwritev_all(fd: int, pieces: Sequence[Buffer], offset: int) -> None:
    """`pieces` (at most _PIECES) at `offset`, in one pwritev when it takes them all."""
    if len(pieces) == 1:
        _pwrite_all(fd, memoryview(pieces[0]), offset)
        return
    written = os.pwritev(fd, pieces, offset)
    for piece in pieces:
        if written >= len(piece):
            written -= len(piece)
        else:
            _pwrite_all(fd, memoryview(piece)[written:], offset + written)
            written = 0
        offset += len(piece)
