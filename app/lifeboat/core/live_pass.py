"""One pass over a frozen live database file, shared by two readers in this process.

A row merge's safety snapshot hashes every page of the frozen live file for its
differential (core/pagediff.diff_stream); the merge's changed rows need the same page
hashes of the same state (core/rowmerge_changed.scan_live) to find the pages that differ
from the snapshot the rows come from. Both run side by side on a machine whose cores the
safety snapshot's whole-file check already keeps busy, and both passes are Python loops
that take turns on the interpreter's lock: the rows take the safety snapshot's hashes
(`PassShare`) instead of making a second pass.

Only for the very same state: both readers hold WAL read lock 0 on a file whose every
frame is copied back (core/wal_direct.FrozenWal), on the same file (device, inode), with
the same page size and count and the same wal-index header bytes. The header's change
number moves on every commit (core/wal_direct): equal headers, both read with every frame
copied back, mean no commit between the two freezes, and a checkpoint then has nothing
new to write, so the file held the same bytes for both. Anything else (another header, a
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
    not a WAL file read under read lock 0)."""
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

    hashes: bytes
    count_high: bytes
    count_low: bytes


class PassShare:
    """The pass of one frozen state, handed from the thread making it to one waiting for
    it. The maker calls begin(state), then add() for each piece of whole pages in order,
    then finish(); abandon() (also after finish: then nothing) when it will not finish."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._state: FrozenState | None = None
        self._begun = self._ended = self._finished = False
        self._hashes = bytearray()
        self._high = bytearray()
        self._low = bytearray()

    def begin(self, state: FrozenState | None) -> None:
        with self._ready:
            if self._begun or self._ended:
                return  # one pass only: a second one (a retried snapshot) is not shared
            self._begun, self._state = True, state
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

    def abandon(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def result_for(self, state: FrozenState | None, cancel: CancelToken) -> PassResult | None:
        """The pass of `state` once it is made; None at once when it is not (or cannot be
        known to be) that state's, or when it ends unfinished."""
        if state is None:
            return None
        with self._ready:
            while not self._ended and not (self._begun and self._state != state):
                cancel.check()
                self._ready.wait(_CANCEL_EVERY_S)
            if not self._finished or self._state != state:
                return None
            expected = state.page_count
        hashes = bytes(self._hashes)
        if len(hashes) != 16 * expected or len(self._high) != expected:
            return None  # not the whole file: never taken for it
        return PassResult(hashes, bytes(self._high), bytes(self._low))
