"""The steps of an in-place restore's write through SQLite's backup API (core/restore.py
`replace_in_place`): one write transaction on the target, copying _STEP_PAGES pages a
step from the verified copy, each step waiting for the pages it reads to be written
(the copy may still be extracted), the committing step for the copy's proof and check;
then the restored pages folded from the WAL into the file."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from lifeboat.core.sqlite_file import file_uri
from lifeboat.foundation.errors import OperationFailed, SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_STEP_PAGES = 4096
_LARGEST_PAGE = 65536


class AlreadyHeld(Exception):
    """The target holds the copy's content already: the write is rolled back."""


def copy_into(
    verified: Path,
    conn: sqlite3.Connection,
    busy_timeout: float,
    progress: Progress,
    cancel: CancelToken,
    gate: Callable[[], object],
    ready: Callable[[int], object],
    already_held: Callable[[], bool],
) -> None:
    """One write transaction on the target; cancelling (or `gate` or `ready` raising)
    before the end rolls it back. `gate` is waited for before the step that commits:
    each step copies _STEP_PAGES pages, so it is the one that starts with no more left.
    `ready(n)` is waited for before a step reads the copy's first n bytes; then
    `already_held()` raises AlreadyHeld (asked only once a step took the write lock: a
    database of more than one page is written in two steps at least)."""
    ready(_LARGEST_PAGE)  # page 1, whose header says the page size and count
    src = sqlite3.connect(file_uri(verified, mode="ro"), uri=True, check_same_thread=False)
    page_size = int(src.execute("pragma page_size").fetchone()[0])
    busy_since: list[float] = []

    def on_step(status: int, remaining: int, total: int) -> None:
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED):
            cancel.check()
            busy_since.append(time.monotonic())
            if busy_since[-1] - busy_since[0] > busy_timeout:
                raise SourceBusy(
                    f"the database stayed locked by another program for {busy_timeout:g} s;"
                    " nothing was changed",
                    "close the program that writes to it (or wait), then retry",
                )
            return
        busy_since.clear()
        progress("restore", total - remaining, total)
        if remaining:  # after the last step the target is committed: too late to cancel
            cancel.check()
            ready(min(total, total - remaining + step) * page_size)
            if remaining <= step:
                gate()  # the next step commits
                if already_held():
                    raise AlreadyHeld

    try:
        pages = int(src.execute("pragma page_count").fetchone()[0])
        step = min(_STEP_PAGES, max(1, pages - 1))
        ready(min(pages, step) * page_size)
        if pages <= step:
            gate()  # the first step is the last (a one-page database)
        src.backup(conn, pages=step, progress=on_step, sleep=0.05)
    except sqlite3.DatabaseError as exc:
        raise OperationFailed(
            f"writing into the database failed: {exc}; it was left as it was",
            "check free space and permissions, then retry",
        ) from None
    finally:
        src.close()


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the restored pages from the WAL into the file where nobody is in the way."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("pragma wal_checkpoint(passive)").fetchone()
