"""A snapshot of a WAL database taken from its file while WAL read lock 0 freezes it
(core/wal_direct.py), two ways:

- `pack_frozen`: packed straight from the file, the check in the same read transaction,
  no copy made. The lock (which keeps the app's checkpoints out) is held for the whole
  pack and check; so this is for the safety snapshot before a restore or merge, which
  write the database anyway, never for a scheduled backup.
- `copy_ahead_and_pack`: copied into scratch in a thread, the read transaction ending as
  soon as the copy is whole (core/wal_scratch.py), while the compressor follows the copy
  (CopySettings.wal_scratch "follow"). Backups use core/wal_converge.py by default.

Both return what core/snapshot.py makes a manifest of: the copy's shape, its check, its
inventory and the packed artifact.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lifeboat.core.dbcheck import CheckResult, check_connection, check_database
from lifeboat.core.dbcopy import CopyResult
from lifeboat.core.dbinspect import Inventory, inventory_of, take_inventory
from lifeboat.core.live_pass import state_of
from lifeboat.core.private import create_file
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.core.snapshot_pack import Packed, pack
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.core.standins import StandInConnection
from lifeboat.core.wal_direct import FrozenWal, frames_of
from lifeboat.core.wal_scratch import CopyAhead, CopyFailed, copy_frozen, following_frames
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress

Taken = tuple[CopyResult, CheckResult, Inventory | None, Packed]
#: a checked copy's page owners and page 1 (core/history/owners_file.py), or None
Owners = tuple[array, bytes] | None


def pack_frozen(
    request: SnapshotRequest,
    frozen: FrozenWal,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
    unchanged: Callable[[Packed, int], bool],
) -> Taken | None:
    """Check the frozen database in its own read transaction (a thread) while its file is
    packed: both see the one state the transaction reads. None when `unchanged` says the
    packed content is a proven snapshot's (its check stands for it: the rest of this one
    is not waited for, nothing is to be stored)."""
    progress("copy", frozen.db_size, frozen.db_size)  # nothing to copy
    if request.share is not None:
        request.share.begin(state_of(frozen))
    try:
        return _check_and_pack(request, frozen, written, progress, cancel, unchanged)
    finally:
        if request.share is not None:
            request.share.release()  # the caller ends the read transaction next


def _check_and_pack(
    request: SnapshotRequest,
    frozen: FrozenWal,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
    unchanged: Callable[[Packed, int], bool],
) -> Taken | None:
    started = time.monotonic()
    with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
        checking = pool.submit(check_and_count_open, frozen.conn, request)
        try:
            packed = pack(
                request,
                lambda: frames_of(frozen, FRAME_PLAIN),
                frozen.db_size,
                frozen.page_size,
                written,
                progress,
                cancel,
            )
        except BaseException:
            frozen.conn.interrupt()  # no need to wait for the whole check
            raise
        if unchanged(packed, frozen.page_count):
            frozen.conn.interrupt()
            with contextlib.suppress(OperationFailed, sqlite3.Error):
                checking.result()
            return None
        checked, inventory = checking.result()
    seconds = time.monotonic() - started
    copied = CopyResult(frozen.page_size, frozen.page_count, True, "wal-direct", 0, seconds)
    return copied, checked, inventory, packed


def copy_ahead_and_pack(
    request: SnapshotRequest,
    frozen: FrozenWal,
    copy_path: Path,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Taken:
    """Copy the frozen database into scratch in a thread, ending its read transaction as
    soon as the copy is whole (core/wal_scratch.py), while it is packed following the
    copy; the copy is checked (a thread) once whole."""
    started = time.monotonic()
    ahead = CopyAhead(frozen.db_size)
    copier = threading.Thread(
        target=copy_frozen,
        args=(frozen, create_file(copy_path), ahead, cancel),
        name="lifeboat-copy",
    )
    copier.start()
    # The copy runs at page-cache speed ahead of the compressor: the compressor's
    # progress is the snapshot's.
    progress("copy", frozen.db_size, frozen.db_size)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
            checking = pool.submit(_check_whole_copy, copy_path, request.check, ahead)
            try:
                packed = pack(
                    request,
                    lambda: following_frames(copy_path, ahead, FRAME_PLAIN),
                    frozen.db_size,
                    frozen.page_size,
                    written,
                    progress,
                    cancel,
                )
            except BaseException as exc:
                ahead.stop()  # the copier stops, the check is told no copy comes
                if isinstance(exc, CopyFailed):
                    raise exc.error from None  # the copy's (a full scratch disk), not pack's
                raise
            checked, inventory = checking.result()
    finally:
        copier.join()
    copied = CopyResult(
        frozen.page_size,
        frozen.page_count,
        True,
        "wal-scratch",
        0,
        time.monotonic() - started,
        locked_seconds=ahead.held_seconds,  # read lock 0: no checkpoint meanwhile
        locked_at=ahead.held_from,
    )
    return copied, checked, inventory, packed


def check_and_count(path: Path, mode: str) -> tuple[CheckResult, Inventory | None]:
    checked = check_database(path, mode)
    return checked, take_inventory(path) if checked.ok else None


def check_count_and_map(
    path: Path, request: SnapshotRequest
) -> tuple[CheckResult, Inventory | None, Owners]:
    """check_and_count, then, for a base of continuous history that passed and is not
    kept sealed, its page owners (read from the copy while it is still in the page
    cache: beside the packing, in the check's thread, never on the capture's path)."""
    checked, inventory = check_and_count(path, request.check)
    owners = None
    wanted = request.reason == "continuous" and request.check in ("quick", "full")
    if checked.ok and wanted and not request.recipients:
        from lifeboat.core.history.owners_file import database_owners

        owners = database_owners(path)
    return checked, inventory, owners


def check_and_count_open(
    conn: StandInConnection, request: SnapshotRequest
) -> tuple[CheckResult, Inventory | None]:
    checked = check_connection(conn, request.check, request.source_path)
    return checked, inventory_of(conn) if checked.ok else None


def _check_whole_copy(
    path: Path, mode: str, ahead: CopyAhead
) -> tuple[CheckResult, Inventory | None]:
    ahead.wait_for(ahead.size)
    return check_and_count(path, mode)
