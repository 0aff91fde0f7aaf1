"""Whether anything was committed to the catalog since the last look (issue 22).

The tray and the scheduler read the status every few seconds; with 10,000 snapshots,
reading the catalog for it was most of an idle tray's work, though nothing had changed.
SQLite's `PRAGMA data_version` on a connection kept open tells, for the price of a
look at the WAL index, whether any other connection (of any process, this one's
included) committed since that connection's last look. The catalog's file identity is
compared too: a catalog moved aside and made anew (`catalog rebuild` after damage) is
another file, which the kept connection would never see change.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from pathlib import Path

from lifeboat.core.sqlite_file import file_uri

#: What a mark is: (the kept connection's serial, its data_version, the file's device
#: and inode). Two equal marks mean no commit in between.
Mark = tuple[int, int, int, int]


class CatalogWatch:
    """`mark()` now and later: equal marks, nothing was committed in between; None
    when it cannot tell (the file is missing or unreadable: then read it afresh)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._serial = 0

    def mark(self) -> Mark | None:
        with self._lock:
            try:
                info = os.stat(self.path, follow_symlinks=False)
            except OSError:
                self._close()
                return None
            if stat.S_ISLNK(info.st_mode):  # the catalog refuses links (catalog_file.py)
                self._close()
                return None
            identity = (info.st_dev, info.st_ino)
            try:
                if self._db is None or identity != self._identity:
                    self._open(identity)
                assert self._db is not None
                version = int(self._db.execute("pragma data_version").fetchone()[0])
            except sqlite3.Error:
                self._close()
                return None
            return (self._serial, version, *identity)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self, identity: tuple[int, int]) -> None:
        self._close()
        # Only ever asked for data_version: it reads, never writes. mode=rw: a catalog gone
        # between the stat and here is not made anew (empty, with the umask's mode).
        self._db = sqlite3.connect(
            file_uri(self.path, mode="rw"), uri=True, timeout=5, check_same_thread=False
        )
        self._identity = identity
        self._serial += 1  # a new connection's versions are not comparable to the old's

    def _close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db, self._identity = None, None
