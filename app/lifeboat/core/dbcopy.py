"""Online, consistent copy of a live SQLite database with SQLite's backup API.

WAL sources: the copy holds one read transaction open across all backup steps. A WAL
reader never blocks writers, and because the transaction stays open the copy sees one
consistent snapshot and never restarts (a backup that opens a new read transaction per
step restarts on every write). Stepping gives progress and cancellation for free.

Rollback-journal sources: a reader blocks writers, so the file is copied without a lock
and then compared under SQLite's shared lock, copying again only the chunks that changed
(core/converging_copy.py): writers wait only for that last compare. Where that cannot be
(no `preadv`), the copy runs in short steps with a pause between them in which writers
get in; a write by anyone else restarts a stepped copy, so after a few restarts or a
deadline one final pass holds the read lock for the copy's duration (writers wait on
their busy timeout). Either way it always finishes: it never livelocks under constant
writes.

The destination is a standalone file in journal mode DELETE: no -wal/-shm needed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.converging_copy import SourceTurnedWal, converging_copy
from lifeboat.core.private import create_file
from lifeboat.core.sqlite_file import (
    RESTORE_HINT,
    RESTORE_TO_NEW_FILE_HINT,
    is_damage,
    open_source,
    probe_database,
)
from lifeboat.foundation.errors import OperationFailed, SourceBusy, SourceError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


@dataclass(frozen=True)
class CopySettings:
    busy_timeout: float = 30.0
    step_pages: int = 1024
    held_step_pages: int = 4096
    step_pause: float = 0.001
    stepped_deadline: float = 5.0
    max_restarts: int = 3
    #: rollback-journal sources: copy without a lock, lock only for the last compare
    converging: bool = True
    converge_passes: int = 3  # unlocked passes at most before the locked one
    mmap_size: int = 0  # mmap of a 1 GiB source is 1 GiB of RSS and measured no faster
    #: a WAL database whose file holds it all: "converge" (copied without a lock, read
    #: lock 0 held for a compare: core/wal_converge.py) or "follow" (held for the copy,
    #: the compressor following it: core/wal_scratch.py)
    wal_scratch: str = "converge"


@dataclass(frozen=True)
class CopyResult:
    page_size: int
    page_count: int
    wal_source: bool
    strategy: str
    restarts: int
    seconds: float
    #: how long writers were kept out (the converging copy's locked pass), when known
    locked_seconds: float | None = None
    locked_at: float | None = None  # when that began (wall clock: benches line it up)
    #: (wall clock, seconds) of every time writers were kept out, when more than once
    lock_holds: tuple[tuple[float, float], ...] = ()
    #: packed as it was copied, but the copy changed after (a checkpoint meanwhile):
    #: packed again from the finished copy (core/snapshot_converge.py)
    packed_again: bool = False

    @property
    def db_size(self) -> int:
        return self.page_size * self.page_count


class _FinalPassNeeded(Exception):
    """Internal: the stepped copy kept restarting; fall back to one full-lock pass."""


def copy_database(
    source: Path,
    dest: Path,
    *,
    settings: CopySettings = CopySettings(),
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CopyResult:
    """Copy the live database `source` into a new standalone file `dest`."""
    cancel = cancel or CancelToken()
    probe_database(source)
    started = time.monotonic()
    opened = os.stat(source)  # the file the connection opens (the converging copy checks)
    src = open_source(source, timeout=settings.busy_timeout)
    try:
        src.execute(f"pragma mmap_size={int(settings.mmap_size)}")
        wal = str(src.execute("pragma journal_mode").fetchone()[0]).lower() == "wal"
        shape: _Shape | None = None
        if not wal and settings.converging and hasattr(os, "preadv"):
            try:
                shape = _converging(source, opened, src, dest, settings, progress, cancel)
            except SourceTurnedWal:
                wal = True
        if shape is None and wal:
            page_size, page_count = _into_new_file(
                dest, lambda out: _held_copy(src, out, settings, progress, cancel)
            )
            shape = _Shape(page_size, page_count, "wal-read-transaction", 0)
        elif shape is None:
            shape = _stepped_then_final_pass(src, dest, settings, progress, cancel)
    except sqlite3.DatabaseError as exc:
        raise _explain(source, exc) from None
    finally:
        src.close()
    return CopyResult(
        shape.page_size,
        shape.page_count,
        wal,
        shape.strategy,
        shape.restarts,
        time.monotonic() - started,
        shape.locked_seconds,
        shape.locked_at,
        shape.lock_holds,
    )


@dataclass(frozen=True)
class _Shape:
    """What a copy strategy made: the copy's page size and count, and how."""

    page_size: int
    page_count: int
    strategy: str
    restarts: int
    locked_seconds: float | None = None
    locked_at: float | None = None
    lock_holds: tuple[tuple[float, float], ...] = ()


def _converging(
    source: Path,
    opened: os.stat_result,
    src: sqlite3.Connection,
    dest: Path,
    settings: CopySettings,
    progress: Progress,
    cancel: CancelToken,
) -> _Shape:
    """A rollback-journal source copied without a lock, then compared under the shared
    lock (core/converging_copy.py): writers wait only for that last pass."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)  # an abandoned attempt of this same copy
    done = converging_copy(
        source,
        (opened.st_dev, opened.st_ino),
        src,
        dest,
        max_passes=settings.converge_passes,
        progress=progress,
        cancel=cancel,
    )
    return _Shape(
        done.page_size,
        done.page_count,
        "converging",
        0,
        done.locked_seconds,
        done.locked_at,
        tuple(done.holds) if len(done.holds) > 1 else (),
    )


def _stepped_then_final_pass(
    src: sqlite3.Connection,
    dest: Path,
    settings: CopySettings,
    progress: Progress,
    cancel: CancelToken,
) -> _Shape:
    """The backup API in short steps with pauses for writers; after restarts or a
    deadline, one final pass holding the read lock (where no converging copy can be)."""
    try:
        restarts = 0

        def stepped(out: sqlite3.Connection) -> None:
            nonlocal restarts
            restarts = _backup(
                src, out, settings.step_pages, settings, progress, cancel, stepped=True
            )

        page_size, page_count = _into_new_file(dest, stepped)
        return _Shape(page_size, page_count, "stepped", restarts)
    except _FinalPassNeeded as exc:
        # The abandoned attempt cannot be rolled back (no journal): start afresh.
        page_size, page_count = _into_new_file(
            dest, lambda out: _held_copy(src, out, settings, progress, cancel)
        )
        return _Shape(page_size, page_count, "stepped+final-pass", int(str(exc)))


def _into_new_file(dest: Path, copy: Callable[[sqlite3.Connection], None]) -> tuple[int, int]:
    """Run `copy` into a brand-new `dest` and make it standalone; return page size, count.

    The file is created here, exclusively and private, before SQLite opens it (an empty
    file is an empty database), so SQLite never creates it with the umask's mode."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)  # an abandoned attempt of this same copy (see copy_database)
    os.close(create_file(dest))
    out = sqlite3.connect(dest, isolation_level=None, check_same_thread=False)
    try:
        # The copy is ours alone and rewritten on failure: no journal and no syncs while
        # copying (the artifact made from it is fsynced).
        out.execute("pragma journal_mode=OFF")
        out.execute("pragma synchronous=OFF")
        copy(out)
        # The header still says WAL if the source was; make the copy standalone.
        mode = out.execute("pragma journal_mode=DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise OperationFailed(f"could not make the copy standalone (mode {mode})")
        return (
            int(out.execute("pragma page_size").fetchone()[0]),
            int(out.execute("pragma page_count").fetchone()[0]),
        )
    finally:
        out.close()


def _held_copy(
    src: sqlite3.Connection,
    out: sqlite3.Connection,
    settings: CopySettings,
    progress: Progress,
    cancel: CancelToken,
) -> None:
    """Copy inside one read transaction: one consistent snapshot, no restarts."""
    src.execute("begin")
    try:
        src.execute("select count(*) from sqlite_master").fetchone()
        _backup(src, out, settings.held_step_pages, settings, progress, cancel, stepped=False)
    finally:
        src.execute("rollback")


def _backup(
    src: sqlite3.Connection,
    out: sqlite3.Connection,
    pages: int,
    settings: CopySettings,
    progress: Progress,
    cancel: CancelToken,
    *,
    stepped: bool,
) -> int:
    started = time.monotonic()
    page_size = int(src.execute("pragma page_size").fetchone()[0])
    state: dict[str, float | int | None] = {"busy_since": None, "last": None, "restarts": 0}

    def on_step(status: int, remaining: int, total: int) -> None:
        cancel.check()
        now = time.monotonic()
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED):
            since = state["busy_since"] = state["busy_since"] or now
            if now - since > settings.busy_timeout:
                raise SourceBusy(
                    f"the source database stayed locked for {settings.busy_timeout:.0f} s",
                    "another program holds a long write lock; retry later or raise busy_timeout",
                )
            return
        state["busy_since"] = None
        last = state["last"]
        if last is not None and remaining > last:
            state["restarts"] = int(state["restarts"] or 0) + 1
        state["last"] = remaining
        progress("copy", (total - remaining) * page_size, total * page_size)
        if stepped and remaining:
            if (
                int(state["restarts"] or 0) > settings.max_restarts
                or now - started > settings.stepped_deadline
            ):
                raise _FinalPassNeeded(str(state["restarts"]))
            time.sleep(settings.step_pause)  # the source is unlocked here: writers get in

    src.backup(out, pages=pages, progress=on_step, sleep=0.02)
    return int(state["restarts"] or 0)


def _explain(source: Path, exc: sqlite3.DatabaseError) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return SourceBusy(
            f"{source} is locked by another program: {text}",
            "retry later, or ask the program to release its lock",
        )
    if is_damage(exc):  # SQLite itself says so: proven damage
        return SourceError(
            f'{source} is damaged: SQLite reports "{text}" while copying '
            "it; no snapshot was stored",
            RESTORE_HINT,
        )
    if "not a database" in text:  # unreadable to SQLite, e.g. encrypted: not proof of damage
        return SourceError(
            f'{source} could not be copied: SQLite says "{text}"',
            "check that it is an unencrypted SQLite database; if it was "
            f"one, {RESTORE_TO_NEW_FILE_HINT}",
        )
    if "disk is full" in text or "database or disk is full" in text:
        return OperationFailed(
            f"disk full while copying {source}", "free space in the temp folder and try again"
        )
    return OperationFailed(f"copying {source} failed: {text}")
