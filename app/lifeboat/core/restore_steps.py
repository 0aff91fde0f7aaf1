"""The steps of an in-place restore's write through SQLite's backup API (core/restore.py
`replace_in_place`): one write transaction on the target, copying _STEP_PAGES pages a
step from the verified copy, each step waiting for the pages it reads to be written
(the copy may still be extracted), the committing step for the copy's proof and check;
then the restored pages folded from the WAL into the file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.sqlite_file import file_uri
from lifeboat.core.wal_reset import checkpoint_allowed
from lifeboat.core.writeback import sync_file_range
from lifeboat.foundation.errors import OperationFailed, SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_STEP_PAGES = 4096
_LARGEST_PAGE = 65536
_SYNC_FILE_RANGE_WRITE = 2
#: how often the checkpoint's new pages are sent on to disk
_PUSH_EVERY = 0.05


def follow_window(page_size: int) -> int:
    """How far an extraction followed by copy_into may run ahead of what it copied
    (core/written_so_far.py): two steps and some room, more than one step waits for."""
    return 2 * _STEP_PAGES * page_size + (16 << 20)


def _no_wait(size: int) -> None:
    return None


def _no_call() -> None:
    return None


@dataclass(frozen=True)
class CopyReading:
    """How the write reads a copy that may still be being produced (core/written_so_far):
    `ready(n)` returns once its first n bytes are written; `done_with(n)` is told once
    the write will read none of its first n bytes again but its header
    (core/scratch_release.py); `finished()` once the write committed; `whole()` before
    a file replace waits for the copy: it reads all of it, so none may be freed and
    the extraction must not be held back for the write."""

    ready: Callable[[int], object] = _no_wait
    done_with: Callable[[int], object] = _no_wait
    finished: Callable[[], object] = _no_call
    whole: Callable[[], object] = _no_call


class AlreadyHeld(Exception):
    """The target holds the copy's content already: the write is rolled back."""


def copy_into(
    verified: Path,
    conn: sqlite3.Connection,
    busy_timeout: float,
    progress: Progress,
    cancel: CancelToken,
    gate: Callable[[], object],
    reading: CopyReading,
    already_held: Callable[[bool], bool],
) -> None:
    """One write transaction on the target; cancelling (or `gate` or `reading.ready`
    raising) before the end rolls it back. `gate` is waited for before the step that
    commits (the one that starts with no more left); `reading.ready(n)` before a step
    reads the copy's first n bytes; `reading.done_with(n)` before that, once the steps
    will read none of its first n bytes again but its header. `already_held(final)`
    True raises AlreadyHeld: asked after every step (the first took the write lock: a
    database of more than one page takes two steps at least), `final` after `gate`,
    when it must know; before, it may say False."""
    ready, done_with = reading.ready, reading.done_with
    ready(_LARGEST_PAGE)  # page 1, whose header says the page size and count
    src = sqlite3.connect(file_uri(verified, mode="ro"), uri=True, check_same_thread=False)
    page_size = int(src.execute("pragma page_size").fetchone()[0])
    busy_since: list[float] = []
    wal = _WalFile(Path(f"{_main_file(conn)}-wal"))

    def on_step(status: int, remaining: int, total: int) -> None:
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED):
            _still_busy(busy_since, busy_timeout, cancel)
            return
        busy_since.clear()
        progress("restore", total - remaining, total)
        if remaining:  # after the last step the target is committed: too late to cancel
            cancel.check()
            if already_held(False):  # the write lock is ours since the first step
                raise AlreadyHeld
            done_with((total - remaining) * page_size)  # first: the writer may wait for it
            ready(min(total, total - remaining + step) * page_size)
            if remaining <= step:
                gate()  # the next step commits
                if already_held(True):
                    raise AlreadyHeld

    try:
        pages = int(src.execute("pragma page_count").fetchone()[0])
        step = min(_STEP_PAGES, max(1, pages - 1))
        ready(min(pages, step) * page_size)
        if pages <= step:
            gate()  # the first step is the last (a one-page database)
        with pushing(wal.descriptor):
            src.backup(conn, pages=step, progress=on_step, sleep=0.05)
    except sqlite3.DatabaseError as exc:
        raise OperationFailed(
            f"writing into the database failed: {exc}; it was left as it was",
            "check free space and permissions, then retry",
        ) from None
    finally:
        src.close()
        wal.close()


def _still_busy(busy_since: list[float], busy_timeout: float, cancel: CancelToken) -> None:
    """A step found the target locked: wait on, unless cancelled or too long already."""
    cancel.check()
    busy_since.append(time.monotonic())
    if busy_since[-1] - busy_since[0] > busy_timeout:
        raise SourceBusy(
            f"the database stayed locked by another program for {busy_timeout:g} s;"
            " nothing was changed",
            "close the program that writes to it (or wait), then retry",
        )


def close_when_settled(conn: sqlite3.Connection, settle: Callable[[], object]) -> None:
    """Close the target's connection once `settle` (the safety snapshot) is done, also
    when the write failed: the last connection's close copies the WAL into the file and
    removes it, under a raw safety copy still reading the files as they are. A failed
    safety snapshot is its caller's to report (jobs/restore_in_place.py)."""
    try:
        with contextlib.suppress(Exception):
            settle()
    finally:
        conn.close()


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the restored pages from the WAL into the file where nobody is in the way,
    the kernel writing them to disk as they come (its fsync then waits for less).
    Where Lifeboat's SQLite has the WAL-reset bug it runs only while another connection
    of ours holds the write lock (a PASSIVE checkpoint of it beside the app's commits can
    lose one: core/wal_reset.py), else it is left to the app's checkpoints."""
    path = Path(_main_file(conn))
    with checkpoint_allowed(path) as allowed:
        if allowed:
            _checkpoint_pushing(conn, path)


def _checkpoint_pushing(conn: sqlite3.Connection, path: Path) -> None:
    try:
        fd: int | None = pinned(path)[0]  # never closed: SQLite's locks
    except OSError:
        fd = None
    try:
        with pushing(lambda: fd), contextlib.suppress(sqlite3.Error):
            conn.execute("pragma wal_checkpoint(passive)").fetchone()
    finally:
        if fd is not None:
            unpin(fd)


@contextlib.contextmanager
def pushing(descriptor: Callable[[], int | None]) -> Iterator[None]:
    """While the body runs, a thread starts the kernel writing the file's dirty pages
    every _PUSH_EVERY s (`descriptor()`: its descriptor, None while there is none yet):
    the fsync after it waits for little, and the thread doing the SQLite work never
    spends its own time submitting the writes (it is the restore's critical path)."""
    done = threading.Event()

    def push() -> None:
        while not done.wait(_PUSH_EVERY):
            _start_writeback(descriptor())

    thread = threading.Thread(target=push, name="lifeboat-writeback")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _start_writeback(fd: int | None) -> None:
    """Start the kernel writing the file's dirty pages, without waiting (Linux; speed
    only: durability is SQLite's fsync, which still runs)."""
    call = sync_file_range()
    if fd is not None and call is not None:
        call(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # a failure here costs only speed


def _main_file(conn: sqlite3.Connection) -> str:
    return str(conn.execute("pragma database_list").fetchone()[2])


class _WalFile:
    """The WAL the write appends to, opened once it is there (SQLite creates it at the
    first frame) so its pages can be sent to disk as it grows: SQLite locks the -shm and
    the database file, never the -wal, so this descriptor may be closed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def descriptor(self) -> int | None:
        if self._fd is None:
            with contextlib.suppress(OSError):
                self._fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
