"""Appending a new file around the page cache, written by a thread of its own.

Why: a snapshot's artifact (about 300 MB for the bench's 1 GiB database) was written
through the page cache, each write copied into pages the kernel allocates, then pushed
out every 16 MiB and fsynced. On this kind of machine that copy cost 0.16 to 0.9 s of
system CPU for 300 MB (fresh pages are the dear ones), on the thread that also hands the
compressor its frames: the snapshot waited for it. Written around the cache (O_DIRECT,
core/direct_writes.py) the same 300 MB cost 0.02 s of CPU; nothing is left dirty, so the
final fsync is short, and the application's page cache is left alone.

A direct write waits for the disk, so a thread of its own writes one full buffer while
the caller fills the next: on a slow disk the compression goes on meanwhile, as it did
while the kernel wrote back. Every buffer is BUFFER bytes (a multiple of 4096) at an
offset that is too, so each is written direct; the last, shorter one goes through the
page cache (DirectWrites writes an unaligned length buffered). Where direct I/O is
refused, every write is buffered: the bytes written are the same either way.

Durability is still the caller's fsync. A write's error (a full disk) is raised in the
caller at its next write or at `finish`.
"""

from __future__ import annotations

import mmap
import queue
import threading
from collections.abc import Sequence
from typing import Protocol

from lifeboat.core.direct_writes import ALIGN, BUFFER, Buffer, DirectWrites

#: buffers in all: the one being filled and the one being written
_BUFFERS = 2


class Digest(Protocol):
    def update(self, data: memoryview, /) -> None: ...


class DirectStream:
    """Appends to the new, empty file of `fd` (see the module's docstring). `finish`
    writes what is left and waits; `close` stops the writer and closes what it opened,
    whatever happened."""

    def __init__(self, fd: int, *, direct: bool = True, digests: Sequence[Digest] = ()) -> None:
        self._writes = DirectWrites(fd, ALIGN, allowed=direct)
        # fed in the writer's thread, in file order: the caller's thread (which feeds the
        # compressors) does not wait for them; read them once `finish` returned
        self._digests = tuple(digests)
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[tuple[mmap.mmap, int, int] | None] = queue.SimpleQueue()
        self._buffers = [mmap.mmap(-1, BUFFER) for _ in range(_BUFFERS)]
        for buffer in self._buffers[1:]:
            self._free.put(buffer)
        self._buffer = self._buffers[0]
        self._filled = 0
        self._offset = 0  # of the buffer being filled
        self._failed: Exception | None = None
        self._writer = threading.Thread(target=self._write_each, name="lifeboat-write")
        self._writer.start()
        self._stopped = False

    @property
    def direct(self) -> bool:
        return self._writes.direct

    def write(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        while view:
            take = min(len(view), BUFFER - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == BUFFER:
                self._hand_over()

    def finish(self) -> None:
        """Write what is left and wait for every write; raise the first one's error."""
        if self._filled:
            self._hand_over()
        self._stop()
        self._raise_failure()

    def close(self) -> None:
        self._stop()
        try:
            self._writes.close()
        finally:
            for buffer in self._buffers:
                buffer.close()

    def _hand_over(self) -> None:
        self._raise_failure()
        self._full.put((self._buffer, self._filled, self._offset))
        self._offset += self._filled
        self._filled = 0
        self._buffer = self._free.get()  # the writer gives every buffer back, failed or not
        self._raise_failure()

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._full.put(None)
            self._writer.join()

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _write_each(self) -> None:
        while (item := self._full.get()) is not None:
            buffer, length, offset = item
            try:
                if self._failed is None:
                    self._hash(buffer, length)
                    self._writes.write_buffer(buffer, length, offset)
            except Exception as exc:  # raised in the caller, whatever it is
                # Without its traceback: the frames it holds keep views of the buffer,
                # which could then never be closed.
                self._failed = exc.with_traceback(None)  # later buffers are not written
            finally:
                self._free.put(buffer)

    def _hash(self, buffer: mmap.mmap, length: int) -> None:
        if not self._digests:
            return
        with memoryview(buffer) as whole, whole[:length] as written:
            for digest in self._digests:
                digest.update(written)
