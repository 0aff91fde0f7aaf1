"""One pass over a frozen live database file, shared by two readers in this process.

A row merge's safety snapshot hashes every page of the frozen live file for its
differential (core/pagediff.diff_stream); the merge's changed rows need the same page
hashes of the same state (core/rowmerge_changed.scan_live) to find the pages that differ
from the snapshot the rows come from. Both run side by side on a machine whose cores the
safety snapshot's whole-file check already keeps busy, and both passes are Python loops
that take turns on the interpreter's lock: the rows take the safety snapshot's hashes
(`PassShare`) instead of making a second pass.

Only for the very same state. Each reader reads exactly the state its read transaction
reads: on WAL read lock 0, the database file alone, whose every frame is copied back (no
checkpoint may write that file while the lock is held); on another read lock, the pages of
frames up to the wal-index header's mxFrame from the WAL and the rest from the file
(core/wal_frames.wal_pages). Either way that state is the one named by the wal-index
header the transaction began with (the same header before and after it began). When the
two read transactions were both held at one moment, on the same file (device, inode), the
-shm was not made anew between their starts (a connection was open throughout), and within
one -shm the header changes on every commit (its change number) and every WAL reset (its
salts): equal headers mean no commit came between the two starts, so both read the same
bytes. The reader is frozen for all the time it waits, so they overlap when the pass's
transaction began while the reader waited, or was still held when the reader began
waiting (its maker says when it is about to end: `release`). Equal headers alone would
not do: once every connection closes, the -shm is made anew and its change number starts
again (tests/core/test_live_pass.py). Anything else (no overlap, another file, a
rollback-journal database, a pass that stopped or was not made) gives the reader
nothing, and it makes its own pass.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from lifeboat.core.wal_direct import FrozenWal
from lifeboat.foundation.progress import CancelToken

#: how often a reader waiting for the pass looks at its own cancel (a condition wait,
#: woken at once when the pass ends)
_CANCEL_EVERY_S = 0.05


@dataclass(frozen=True)
class FrozenState:
    """What proves two freezes of a live file read the same bytes (see the module)."""

    device: int
    inode: int
    page_size: int
    page_count: int
    index_header: bytes


def state_of(frozen: FrozenWal) -> FrozenState | None:
    """The state `frozen` reads, or None when it cannot be compared (no wal-index header:
    not a WAL database frozen by core/wal_direct.frozen_wal)."""
    if not frozen.index_header:
        return None
    info = os.fstat(frozen.fd)
    return FrozenState(
        info.st_dev, info.st_ino, frozen.page_size, frozen.page_count, frozen.index_header
    )


@dataclass(frozen=True)
class PassResult:
    """Each page's xxh3-128 (16 bytes a page, in order) and the high and low byte of
    each page's b-tree cell count (bytes 3 and 4 of the page)."""

    hashes: bytearray
    count_high: bytearray
    count_low: bytearray


class PassShare:
    """The pass of one frozen state, handed from the thread making it to one waiting for
    it. The maker calls begin(state), then add() for each piece of whole pages in order,
    then finish(); abandon() (also after finish: then nothing) when it will not finish."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._state: FrozenState | None = None
        self._begun = self._ended = self._finished = False
        self._released = False  # the pass's read transaction is about to end, or ended
        self._reading = False  # a reader, frozen, waits for the pass
        self._claimed = False  # one reader only: a second could inherit the first's overlap
        self._overlap = False  # both read transactions were held at one moment
        self._hashes = bytearray()
        self._high = bytearray()
        self._low = bytearray()

    def begin(self, state: FrozenState | None) -> None:
        with self._ready:
            if self._begun or self._ended:
                return  # one pass only: a second one (a retried snapshot) is not shared
            self._begun, self._state = True, state
            self._overlap = self._overlap or self._reading
            if state is None:
                self._ended = True
            self._ready.notify_all()

    def add(self, piece: bytes, hashes: bytes, page_size: int) -> None:
        """A piece of whole pages read in the pass, and their hashes."""
        if self._ended or not self._begun:
            return
        self._hashes += hashes
        self._high += bytes(piece[3::page_size])
        self._low += bytes(piece[4::page_size])

    def finish(self) -> None:
        with self._ready:
            if self._begun and not self._ended:
                self._finished = True
            self._ended = True
            self._ready.notify_all()

    def release(self) -> None:
        """The pass's read transaction is about to end (call it while still held): a
        pass not finished by then never will be."""
        with self._ready:
            self._released = self._ended = True
            self._ready.notify_all()

    def abandon(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def result_for(self, state: FrozenState | None, cancel: CancelToken) -> PassResult | None:
        """The pass of `state` once it is made; None at once when it is not (or cannot be
        proven to be) that state's, or when it ends unfinished. Call it while the frozen
        read transaction `state` was taken of is held (see the module)."""
        if state is None:
            return None
        with self._ready:
            if self._claimed:
                return None
            self._claimed = self._reading = True
            self._overlap = self._overlap or (self._begun and not self._released)
            while not self._ended and not (self._begun and self._state != state):
                if self._released and not self._overlap:
                    return None  # it ended before this reader froze: not proven the same
                cancel.check()
                self._ready.wait(_CANCEL_EVERY_S)
            if not (self._finished and self._overlap) or self._state != state:
                return None
        # finished: nothing is added any more, so the pass is handed over without a copy
        if len(self._hashes) != 16 * state.page_count or len(self._high) != state.page_count:
            return None  # not the whole file: never taken for it
        return PassResult(self._hashes, self._high, self._low)
