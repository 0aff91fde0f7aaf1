"""The live database's current state, read as plain files, and how it differs from ours.

State = the database file's pages, overlaid by the last image of each page in the WAL's
valid transactions, cut at the last commit's page count. Read without any SQLite
connection, it is made consistent by reading in this order and checking:

1. the WAL's header and all its valid transactions;
2. the database file;
3. the WAL again, from where step 1 ended: its header must be the same (else the WAL
   was restarted or truncated meanwhile: start over), and any transactions committed
   since are applied too.

A checkpoint copies into the database file only pages of frames that were valid when it
ran, and the last check reads up to at least those frames: a page that changed in the
file while it was read is replaced by its newest WAL image. So the result is exactly the
state after the last transaction read (not an instant in between). A WAL restarted
during the read is seen as a changed header; it is read again (a few times at most;
`ReadUnstable` then: the caller retries on its next poll).

`read_live_state` also serves the chain start, which first holds a read transaction of
its own (the WAL cannot restart more than once while it is held: a reader that uses the
WAL blocks its restart; one that does not (it began when every frame was copied) blocks
every copy into the file, so the new WAL cannot be emptied and restarted again).
`read_live_state_settled` uses the same hold when an app writing flat out restarts its
WAL faster than the file can be read: then, for the time of one read of the file, the
app's checkpoints copy less and its WAL may grow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.history.pagestate import PageState, page_hash
from lifeboat.core.history.wal import Cursor, Scan, WalFile, WalHeader, scan
from lifeboat.core.sqlite_file import header_page_size, open_source

_ATTEMPTS = 5
_BLOCK_PAGES = 256
SQLITE_HEADER = b"SQLite format 3\x00"


class ReadUnstable(Exception):
    """The WAL kept being restarted while the live state was read."""


@dataclass
class LiveState:
    """The live state, as what differs from a known one."""

    page_count: int
    page_size: int
    #: pages whose image differs from the known state (number -> image)
    changed: dict[int, bytes] = field(default_factory=dict)
    #: where the WAL stands after the last transaction read (None: no valid WAL)
    cursor: Cursor | None = None
    wal_identity: tuple[int, int] | None = None
    #: the WAL's valid transactions, in order (the chain start applies them)
    transactions: int = 0


def wal_path(db: Path) -> Path:
    return Path(f"{db}-wal")


def _open_wal(db: Path) -> WalFile | None:
    try:
        return WalFile(wal_path(db))
    except FileNotFoundError:
        return None


def read_wal(db: Path) -> tuple[WalHeader | None, Scan | None, tuple[int, int] | None]:
    """The WAL's header and all its valid transactions (None, None: no valid WAL)."""
    wal = _open_wal(db)
    if wal is None:
        return None, None, None
    with wal:
        header = wal.header()
        if header is None:
            return None, None, wal.identity
        return header, scan(wal.read_at, Cursor.at_start(header)), wal.identity


def read_live_state(db_fd: int, db: Path, known: PageState) -> LiveState:
    """The live state of the database `db` (its file open as `db_fd`, read-only), as the
    pages that differ from `known`. Raises ReadUnstable."""
    for _ in range(_ATTEMPTS):
        header, first, identity = read_wal(db)
        overlay: dict[int, bytes] = {}
        page_count = 0
        cursor = None
        transactions = 0
        if first is not None:
            for txn in first.transactions:
                overlay.update(txn.pages)
                page_count = txn.page_count
            cursor = first.cursor
            transactions = len(first.transactions)
        page_size = header.page_size if header is not None else _file_page_size(db_fd)
        changed, file_pages = _changed_file_pages(db_fd, page_size, overlay, known)
        again = _read_on(db, header, cursor)
        if again is _RESTARTED:
            continue
        if isinstance(again, Scan):
            for txn in again.transactions:
                overlay.update(txn.pages)  # newer than what the file pass used
                page_count = txn.page_count
                for number, image in txn.pages.items():
                    _note(changed, known, number, image)
            cursor = again.cursor
            transactions += len(again.transactions)
        if not transactions:
            page_count = _header_page_count(db_fd, page_size)
        live = LiveState(page_count, page_size, cursor=cursor, wal_identity=identity)
        live.transactions = transactions
        zero = bytes(page_size)
        for number in range(file_pages + 1, page_count + 1):
            if number not in changed:  # past the file's end: WAL images, else zeros
                _note(changed, known, number, overlay.get(number, zero))
        live.changed = {n: image for n, image in changed.items() if n <= page_count}
        return live
    raise ReadUnstable("the WAL kept restarting while the database was read")


def read_live_state_settled(
    db_fd: int, db: Path, known: PageState, busy_timeout: float
) -> tuple[LiveState, bool]:
    """`read_live_state`; if the WAL keeps restarting under it, read once more holding a
    read transaction of our own. Returns the state and whether it was held."""
    try:
        return read_live_state(db_fd, db, known), False
    except ReadUnstable:
        with holding_the_wal(db, busy_timeout):
            return read_live_state(db_fd, db, known), True


@contextlib.contextmanager
def holding_the_wal(db: Path, busy_timeout: float) -> Iterator[None]:
    """A read transaction of our own on the live database while the block runs (see the
    module's note: the WAL restarts at most once meanwhile)."""
    conn = open_source(db, timeout=busy_timeout)
    try:
        conn.execute("begin")
        conn.execute("select count(*) from sqlite_master").fetchone()
        yield
    finally:
        with contextlib.suppress(Exception):
            conn.execute("rollback")
        conn.close()


def _note(changed: dict[int, bytes], known: PageState, number: int, image: bytes) -> None:
    if known.differs(number, page_hash(image)):
        changed[number] = image
    else:
        changed.pop(number, None)


_RESTARTED = object()


def _read_on(db: Path, header: WalHeader | None, cursor: Cursor | None) -> object:
    """Step 3: the WAL again. _RESTARTED if its header changed, else a Scan of what was
    committed since `cursor` (None when there is no WAL now and was none before)."""
    wal = _open_wal(db)
    if wal is None:
        return None if header is None else _RESTARTED
    with wal:
        now = wal.header()
        if now != header:
            return _RESTARTED
        if header is None:
            return None
        return scan(wal.read_at, cursor or Cursor.at_start(header))


def _file_page_size(fd: int) -> int:
    head = os.pread(fd, 100, 0)
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        raise ValueError("the database file has no SQLite header")
    return header_page_size(head)


def _header_page_count(fd: int, page_size: int) -> int:
    """The database's size in pages from its header when valid, else its file's size."""
    head = os.pread(fd, 100, 0)
    size = os.fstat(fd).st_size // page_size
    if len(head) == 100 and head[24:28] == head[92:96]:
        listed = int.from_bytes(head[28:32], "big")
        if listed:
            return listed
    return size


def _changed_file_pages(
    fd: int, page_size: int, overlay: dict[int, bytes], known: PageState
) -> tuple[dict[int, bytes], int]:
    """One pass over the database file: the pages (the WAL's image where it has one)
    that differ from `known`, and how many pages the file holds."""
    changed: dict[int, bytes] = {}
    offset = 0
    number = 0
    step = page_size * _BLOCK_PAGES
    while block := os.pread(fd, step, offset):
        view = memoryview(block)
        usable = len(block) // page_size * page_size
        for at in range(0, usable, page_size):
            number += 1
            image = overlay.get(number)
            if image is None:
                page = view[at : at + page_size]
                if known.differs(number, page_hash(page)):
                    changed[number] = bytes(page)
            elif known.differs(number, page_hash(image)):
                changed[number] = image
        offset += usable
        if usable < step:
            break
    for number_in_wal, image in overlay.items():
        if number_in_wal > number:  # past the file's end
            _note(changed, known, number_in_wal, image)
    return changed, number
