"""How far a file being written in order has got, for a reader that follows the writer.

An in-place restore writes the verified copy into the database with SQLite's backup API
while the copy is still being decompressed (jobs/restore.py): each backup step reads the
next pages of the copy only once the decompression has written them (`wait_for`). The
writer says how far it got (`reached`), then that it is done and proven (`finish`), or
that it failed (`fail`: every waiting reader gets the error, so the write is rolled back).
What the reader copied is only committed after the writer's proof: the restore's
committing step waits for it (core/restore.replace_in_place's `before_commit`).
"""

from __future__ import annotations

import threading

from lifeboat.foundation.progress import CancelToken

#: how often a waiting reader looks at its cancel token
_CANCEL_POLL = 0.1


class WrittenSoFar:
    def __init__(self, size: int) -> None:
        self.size = size  # the whole file's size, known before it is written (0: unknown)
        self._reached = 0
        self._done = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def reached(self, size: int) -> None:
        """The file is written, in order, up to `size` bytes."""
        with self._changed:
            self._reached = max(self._reached, size)
            self._changed.notify_all()

    def finish(self) -> None:
        """The whole file is written (and proven, as the writer's caller requires)."""
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    def wait_for(self, size: int, cancel: CancelToken) -> None:
        """Return once the first `size` bytes are written (or the whole file: a writer
        that never says how far it got is waited for to the end); raise the writer's
        error if it failed, or Cancelled."""
        with self._changed:
            while True:
                if self._error is not None:
                    raise self._error
                if self._done or self._reached >= size:
                    return
                cancel.check()
                self._changed.wait(_CANCEL_POLL)
