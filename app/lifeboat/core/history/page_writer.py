"""Writing a point's pages to its file in a thread of its own (rebuild.py builds them).

The rebuild's thread builds each block (base pages with the segments' images put in),
hashes it and hands it here: `PageWriter.write(data, offset)`. A writer thread pwrites
the blocks in the order given, a batch (about 1 MiB) at a time. Measured on the bench's
point (348 MB, loaded machine): the rebuild's thread spent about half its time in
write(2) calls, which release the GIL; in a thread of their own they overlap the
building of the next blocks and the decompression pools' waits. (Its effect on wall
time was within the noise of the shared 2-core machine it was measured on: 1 GiB point,
2.5-2.9 s with it, 2.7-3.0 s before, same rounds; a quiet machine should say more.)

`_Flusher` (fdatasync every _FLUSH_BYTES, in a third thread) makes the disk write while
the pages are built, when no final fsync runs beside other work (points.py).

Memory: at most _WRITES_AHEAD batches wait (16 MiB), whatever the size of the point.
"""

from __future__ import annotations

import os
import queue
import threading

#: bytes of blocks sent to the writer thread at once (fewer hand-overs)
_WRITE_BATCH = 1 << 20
#: batches waiting for the writer thread
_WRITES_AHEAD = 16
_FLUSH_BYTES = 64 << 20

Block = bytes | bytearray | memoryview


class WriteFailed(Exception):
    """Writing or flushing the point's file failed (its OSError is `error`): said as a
    problem of the disk being written, not of the history being read."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Flusher:
    """fdatasync of the file being written, in a thread of its own, every _FLUSH_BYTES:
    the disk writes while pages are built. Its error is raised by `close` (an error one
    fdatasync reported is not reported again to the final fsync of the same file).
    Not `enabled`: it does nothing (the caller's final fsync writes it all)."""

    def __init__(self, fd: int, enabled: bool = True) -> None:
        self._fd = fd
        self._enabled = enabled
        self._pending = 0
        self._due = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="lifeboat-flush", daemon=True)
        if enabled:
            self._thread.start()

    def wrote(self, count: int) -> None:
        if not self._enabled:
            return
        self._pending += count
        if self._pending >= _FLUSH_BYTES:
            self._pending = 0
            self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closing:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self._error = exc
                return

    def stop(self) -> None:
        """End the thread (idempotent)."""
        self._closing = True
        self._due.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        self.stop()
        if self._error is not None:
            raise WriteFailed(self._error)


class PageWriter:
    """pwrite of blocks at their offsets, in order, by a thread of its own. A write's
    error is raised by the next `write` or by `close` (as WriteFailed); `stop` ends the
    thread whatever happened (after the writes already handed over)."""

    def __init__(self, fd: int, flush_while_writing: bool) -> None:
        self._fd = fd
        self._flusher = _Flusher(fd, flush_while_writing)
        self._batch: list[tuple[Block, int]] = []
        self._batched = 0
        self._queue: queue.Queue[list[tuple[Block, int]] | None] = queue.Queue(_WRITES_AHEAD)
        self._error: WriteFailed | None = None
        self._thread = threading.Thread(target=self._run, name="lifeboat-write", daemon=True)
        self._thread.start()

    def write(self, data: Block, offset: int) -> None:
        """Write `data` at `offset` (kept unchanged by the caller until written)."""
        self._batch.append((data, offset))
        self._batched += len(data)
        if self._batched >= _WRITE_BATCH:
            self._send()

    def _send(self) -> None:
        if self._error is not None:
            raise self._error
        if self._batch:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def close(self) -> None:
        """Every block written (the flusher's syncs done): raises the first error."""
        self._send()
        self.stop()
        if self._error is not None:
            raise self._error
        self._flusher.close()

    def stop(self) -> None:
        """End the thread (idempotent); blocks not handed over yet are dropped."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._flusher.stop()

    def _run(self) -> None:
        # After an error, batches are still taken (and dropped): the rebuild's thread
        # never blocks on a full queue nobody empties.
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                for data, offset in batch:
                    _pwrite_all(self._fd, data, offset)
                    self._flusher.wrote(len(data))
            except OSError as exc:
                self._error = WriteFailed(exc)
            except WriteFailed as exc:
                self._error = exc


def _pwrite_all(fd: int, data: Block, offset: int) -> None:
    view = memoryview(data)
    at = 0
    while at < len(view):
        at += os.pwrite(fd, view[at:], offset + at)
