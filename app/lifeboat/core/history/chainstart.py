"""Starting a chain: a base snapshot taken while the WAL is pinned, then the WAL read.

A read transaction of our own is opened first and held until the WAL has been read:
while it is held, a checkpoint cannot copy past it into the database file, so the WAL
can restart at most once (when it was fully copied before we began; then every commit
since is in the new WAL). The base is taken (today's snapshot path, by the caller),
then every valid transaction of the WAL is read, twice with the same header (a restart
in between: read again). The chain's first point is the base with those transactions
applied in order: frames older than the base rewrite pages with the same or later
versions, so the result is exactly the WAL's end state.

Also here: what the follower looks at to tell whether anything changed (`wal_key`,
`db_key`), an `os.stat` each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.livestate import holding_the_wal, read_wal
from lifeboat.core.history.wal import Cursor, Scan, WalHeader

WalKey = tuple[int, int, int, int] | None
DbKey = tuple[int, int] | None
_ATTEMPTS = 5


class WalUnstable(OSError):
    """The WAL kept restarting while the chain's base was taken."""


def wal_key(db: Path) -> WalKey:
    """The -wal as `os.stat` sees it (identity, size, times); None if it is not there."""
    try:
        info = os.stat(f"{db}-wal")  # wal_path's name, without a Path each poll
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


#: what `db_key` gives when the database is another file than `identity` says
REPLACED: DbKey = (-1, -1)


def db_key(db: Path, identity: tuple[int, int] | None = None) -> DbKey:
    """The database file as `os.stat` sees it (size, mtime); None if it is not there
    (moved away for a moment: a restore); REPLACED if `identity` (device, inode) is
    given and the file now is another (one stat serves both questions at each poll)."""
    try:
        info = os.stat(db)
    except FileNotFoundError:
        return None
    if identity is not None and (info.st_dev, info.st_ino) != identity:
        return REPLACED
    return (info.st_size, info.st_mtime_ns)


@dataclass
class StartedBase:
    base: BaseRef
    #: the WAL's transactions merged (last image of each page) and the page count after
    #: them; None when the WAL held none
    first_commit: tuple[dict[int, bytes], int] | None
    cursor: Cursor | None  # where the WAL was read to
    keys: tuple[WalKey, DbKey]  # the files as seen before the WAL was read


def take_base_holding_the_wal(
    db: Path, take_base: Callable[[], BaseRef], busy_timeout: float
) -> StartedBase:
    with holding_the_wal(db, busy_timeout):
        base = take_base()
        keys = wal_key(db), db_key(db)
        header, found = _stable_wal(db)
    first = None
    if found is not None and found.transactions:
        merged: dict[int, bytes] = {}
        for txn in found.transactions:
            merged.update(txn.pages)
        first = (merged, found.transactions[-1].page_count)
    cursor = found.cursor if found is not None else None
    if cursor is None and header is not None:
        cursor = Cursor.at_start(header)
    return StartedBase(base, first, cursor, keys)


def _stable_wal(db: Path) -> tuple[WalHeader | None, Scan | None]:
    for _ in range(_ATTEMPTS):
        header, found, _identity = read_wal(db)
        again, _, _ = read_wal(db)
        if again == header:
            return header, found
    raise WalUnstable("the WAL kept restarting while the chain's base was taken")
