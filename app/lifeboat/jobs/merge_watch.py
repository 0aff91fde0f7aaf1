"""The watch on a row merge's safety snapshot taken without the lock: once another
connection commits to the live database, the snapshot can no longer be the state the
merge starts from (the merge would find the change under its lock and drop it), so it is
stopped then rather than finished. An app that keeps writing then costs the tries a few
milliseconds each, not whole safety snapshots competing with the past for the CPU.

Only ever an early stop: whether a safety snapshot stands is decided under the merge's
write lock (PRAGMA data_version, jobs/merge.py), so a commit the watch misses (before
its first look) costs time, never exactness. The watch reads through its own read-only
connection, in its own thread, while the merge's thread writes the past and plans; it
is closed before the merge takes the lock (SQLite keeps a closed connection's descriptor
while another connection of the process holds locks on the file: one library).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from lifeboat.core.rowmerge import connect_live
from lifeboat.foundation.progress import CancelToken

#: how often the watch looks (PRAGMA data_version: microseconds)
WATCH_EVERY_S = 0.01
STOPPED_REASON = "the database changed"
T = TypeVar("T")


@contextmanager
def stopped_once_changed(
    live: Path,
    busy_timeout: float,
    taking: Future[T],
    stop: CancelToken,
    cancel: CancelToken,
) -> Iterator[None]:
    """For the block: set `stop` once another connection commits to `live` before
    `taking` is done (reason STOPPED_REASON), or once the job's `cancel` is set."""
    ended = threading.Event()
    watcher = threading.Thread(
        target=_watch,
        args=(live, busy_timeout, taking, stop, cancel, ended),
        name="lifeboat-merge-watch",
    )
    watcher.start()
    try:
        yield
    finally:
        ended.set()
        watcher.join()


def _watch(
    live: Path,
    busy_timeout: float,
    taking: Future[T],
    stop: CancelToken,
    cancel: CancelToken,
    ended: threading.Event,
) -> None:
    """In its own thread, with its own connection (a connection stays in its thread)."""
    try:
        conn: sqlite3.Connection | None = connect_live(live, busy_timeout, read_only=True)
    except sqlite3.Error:  # no watch for commits, no early stop: the lock still decides
        conn = None
    try:
        before = _data_version(conn)
        while not ended.is_set() and not wait([taking], timeout=WATCH_EVERY_S).done:
            if cancel.cancelled:
                stop.cancel(cancel.reason)
                return
            if before is not None and _data_version(conn) not in (before, None):
                stop.cancel(STOPPED_REASON)
                return
    finally:
        if conn is not None:
            conn.close()


def _data_version(conn: sqlite3.Connection | None) -> int | None:
    """None: not known (no connection, or SQLite could not say: the lock still decides)."""
    if conn is None:
        return None
    try:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error:
        return None
