"""How far a point's file is finished, its writeback started as it grows (direct_rebuild.py).

Two producers write the file at once, in any order between them (direct_rebuild.py): the
base's pool, frame after frame, and the images' pool, by lowest page. Each says how far
it has written everything of its own (`base(page)`, `images(page)`); the pages up to the
smaller are finished. A thread of its own hands each new 64 MiB of that prefix to the
kernel's writeback (core/writeback.py: sync_file_range, waiting for the chunk before),
so the final fsync finds little dirty. In its own thread because sync_file_range blocks
while the disk's queue is full: measured in the rebuild's thread, it held up the base's
pool, whose next frames that thread submits.

This is only about speed: durability is the final fsync. A writeback error (EIO from a
chunk waited for) is raised by `close` as the disk's (WriteFailed): the kernel reports it
to the first caller that waits, so the final fsync may not see it again.
"""

from __future__ import annotations

import threading

from lifeboat.core.history.page_writer import WriteFailed
from lifeboat.core.writeback import Writeback


class FinishedPrefix:
    """See the module's docstring. Not `enabled`: only counts (no thread, no writeback)."""

    def __init__(self, fd: int, size: int, enabled: bool) -> None:
        self._fd, self._size = fd, size
        self._changed = threading.Condition()
        self._base = self._images = 0
        self._target = 0  # bytes finished, not yet handed to the thread
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="lifeboat-writeback", daemon=True)
        if enabled:
            self._thread.start()

    def base(self, page: int) -> None:
        """Every page the base gives up to `page` is written."""
        with self._changed:
            self._base = page
            self._post()

    def images(self, page: int) -> None:
        """Every page the segments give up to `page` is written."""
        with self._changed:
            self._images = page
            self._post()

    @property
    def finished_pages(self) -> int:
        """Pages 1 to this one are written."""
        with self._changed:
            return min(self._base, self._images)

    def _post(self) -> None:
        target = min(self._base, self._images) * self._size
        if target > self._target:
            self._target = target
            self._changed.notify()

    def _run(self) -> None:
        writeback = Writeback(self._fd)
        done = 0
        while True:
            with self._changed:
                while self._target == done and not self._closing:
                    self._changed.wait()
                if self._closing:
                    return
                done = self._target
            try:
                writeback.reached(done)
            except OSError as exc:
                self._error = exc
                return

    def stop(self) -> None:
        """End the thread (idempotent): nothing more is handed to the writeback."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        """Stop; raise the writeback's error, if any."""
        self.stop()
        if self._error is not None:
            raise WriteFailed(self._error)
