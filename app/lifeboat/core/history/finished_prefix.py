"""How far a point's file is finished, its writeback started as it grows (direct_rebuild.py).

Two producers write the file at once, in any order between them (direct_rebuild.py): the
base's pool, frame after frame, and the images' pool, by lowest page. Each says how far
it has written everything of its own (`base(page)`, `images(page)`); the pages up to the
smaller are finished, and so are the pages past the base's last one (a database that
grew: the images' alone) up to the images' mark: the images, often done long before the
base, need not wait for it. A thread of its own hands each new 64 MiB of both to the
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

    def __init__(self, fd: int, size: int, enabled: bool, base_last: int) -> None:
        self._fd, self._size = fd, size
        self._base_last = base_last  # the pages past it are the images' alone
        self._changed = threading.Condition()
        self._base = self._images = 0
        self._target = (0, 0)  # bytes finished: the prefix; the images' own stretch's end
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
    def finished(self) -> tuple[int, int]:
        """(p, q): pages 1 to p are written, and the pages past the base's last one up
        to q (0: none of them yet)."""
        with self._changed:
            own = self._images if self._images > self._base_last else 0
            return min(self._base, self._images), own

    def _post(self) -> None:
        own = self._images if self._images > self._base_last else 0
        target = (min(self._base, self._images) * self._size, own * self._size)
        if target != self._target:
            self._target = target
            self._changed.notify()

    def _run(self) -> None:
        prefix = Writeback(self._fd)
        own = Writeback(self._fd, start=self._base_last * self._size)
        done = (0, 0)
        while True:
            with self._changed:
                while self._target == done and not self._closing:
                    self._changed.wait()
                if self._closing:
                    return
                done = self._target
            try:
                prefix.reached(done[0])
                if done[1]:
                    own.reached(done[1])
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
