"""How far a file being written in order has got, for a reader that follows the writer.

An in-place restore writes the verified copy into the database with SQLite's backup API
while the copy is still being decompressed (jobs/restore.py): each backup step reads the
next pages of the copy only once the decompression has written them (`wait_for`). The
writer says how far it got (`reached`), then that it is done and proven (`finish`), or
that it failed (`fail`: every waiting reader gets the error, so the write is rolled back).
What the reader copied is only committed after the writer's proof: the restore's
committing step waits for it (core/restore.replace_in_place's `before_commit`).

A reader that frees what it has read (core/scratch_release.py) `follow`s: from then on
the writer's `reached` returns only once it is at most `window` bytes ahead of what the
reader said it `consumed`, until the reader stops following (`unfollow`, whatever ended
its reading). A window of at least what one read waits for (a backup step) keeps the
writer ahead of every read; and whatever the window, a writer is never held while the
reader waits for bytes it has not written yet: the two never wait for each other.
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
        self._window: int | None = None  # a following reader's (see the docstring)
        self._consumed = 0
        self._wanted = 0  # the most a reader has waited for
        #: set by the writer: no check of the whole file can be left owed, so a reader may
        #: free what it read
        self.freeable = False

    def reached(self, size: int) -> None:
        """The file is written, in order, up to `size` bytes; held while a following
        reader is more than its window behind."""
        with self._changed:
            self._reached = max(self._reached, size)
            self._changed.notify_all()
            while (
                self._window is not None
                and self._reached - self._consumed > self._window
                and self._wanted <= self._reached  # no reader waits for more
            ):
                self._changed.wait()

    def follow(self, window: int) -> None:
        """The reader frees what it consumed: keep the writer within `window` of it."""
        assert self.freeable, "only a file no check reads again may be freed"
        with self._changed:
            self._window = window

    def consumed(self, size: int) -> None:
        """The reader is done with the first `size` bytes."""
        with self._changed:
            self._consumed = max(self._consumed, size)
            self._changed.notify_all()

    @property
    def read_away(self) -> bool:
        """Whether a reader may have freed, or may yet free, any of the file: one that
        still follows (it frees before it says it consumed, and may not have read yet) or
        one that consumed some before it stopped; not one that stopped following before
        it read (a file replace reads it whole), nor a file never followed."""
        with self._changed:
            return self._window is not None or self._consumed > 0

    def unfollow(self) -> None:
        """The reader reads no more (done, failed or cancelled): the writer goes on freely."""
        with self._changed:
            self._window = None
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
            if size > self._wanted:
                self._wanted = size
                self._changed.notify_all()  # a writer held back goes on
            while True:
                if self._error is not None:
                    raise self._error
                if self._done or self._reached >= size:
                    return
                cancel.check()
                self._changed.wait(_CANCEL_POLL)
