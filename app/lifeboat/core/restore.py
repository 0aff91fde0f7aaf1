"""Restore a snapshot: into a new file, or in place over a (possibly live) database.

Every path starts from `extract_verified`: the artifact is hashed, decompressed and
checked into a temporary file before anything is committed (jobs/restore.py; in place,
the integrity check runs beside the write, whose committing step waits for it).

In place, the verified copy goes into the target with SQLite's backup API on a
connection to the target: one write transaction, so a crash or kill at any moment
leaves the target entirely old or entirely new, and programs that have the database
open read the restored content on their next transaction (no stale WAL); the file keeps
its owner and mode. Where the target cannot be opened as SQLite, or a WAL target has
another page size (the backup API cannot change it), the file is replaced atomically
instead: the new file gets the old one's owner, group, mode and extended attributes,
and its -wal/-shm (already folded in, or kept in the safety copy) are removed once the
new file is in place.

Every file written next to the target is a work file of the run (core/runs.py):
unique, created exclusively, never through a link, and removed by the next sweep if
the run is killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lifeboat.core.file_identity import give_identity, identity_of
from lifeboat.core.fsutil import fsync_dir, publish, require_space
from lifeboat.core.manifest import Manifest
from lifeboat.core.private import FILE_MODE, is_link, open_new, user_dir
from lifeboat.core.restore_steps import (
    AlreadyHeld,
    CopyReading,
    checkpoint,
    close_when_settled,
    copy_into,
)
from lifeboat.core.runs import Run
from lifeboat.core.sqlite_file import file_uri, says_wal
from lifeboat.core.verify import extract_verified
from lifeboat.core.wal_reset import (
    checkpoint_allowed,
    passive_checkpoints_allowed,
    without_passive_checkpoints,
)
from lifeboat.foundation.errors import LifeboatError, SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

SIDECARS = ("-wal", "-shm", "-journal")
_T = TypeVar("_T")


@dataclass(frozen=True)
class RestoreResult:
    target: Path
    method: str  # new-file | backup-api | file-replace
    seconds: float


def check_new_file_target(target: Path, overwrite: bool) -> Path:
    """Refuse a `--to` target that cannot or should not be written; return it absolute."""
    target = Path(target).expanduser().absolute()
    if not target.parent.is_dir():
        raise LifeboatError(
            f"the folder {target.parent} does not exist",
            "create it first, or choose another --to path",
        )
    link = is_link(target)
    if target.is_dir() and not link:
        raise LifeboatError(f"{target} is a folder", "give the path of the file to write")
    # lexists: a symbolic link (even one to nothing) is something there to replace; with
    # --yes the link itself is replaced by the restored file, never followed
    if os.path.lexists(target) and not overwrite:
        what = " (a symbolic link; it is replaced, not followed)" if link else ""
        raise LifeboatError(
            f"{target} already exists{what}", "choose another path, or add --yes to replace it"
        )
    return target


def restore_to_file(
    folder: Path,
    manifest: Manifest,
    target: Path,
    *,
    overwrite: bool = False,
    check: str = "quick",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    base: tuple[Path, Manifest] | None = None,
    run: Run,
) -> RestoreResult:
    """Write the snapshot (a differential: rebuilt on `base`) as a new standalone database
    at `target` (a work file, fsync, rename), with the mode the source database had
    (0600 when unknown)."""
    cancel = cancel or CancelToken()

    def extract(tmp: Path) -> None:
        extract_verified(
            folder,
            manifest,
            tmp,
            check=check,
            progress=progress,
            cancel=cancel,
            base=base,
            proof_replaces_check=True,
        )

    return write_new_file(
        target, extract, mode=new_file_mode(manifest), overwrite=overwrite, run=run, cancel=cancel
    )


def write_new_file(
    target: Path,
    produce: Callable[[Path], object],
    *,
    mode: int,
    overwrite: bool,
    run: Run,
    cancel: CancelToken,
) -> RestoreResult:
    """Publish a new database at `target`: `produce` writes and checks it into a new work
    file beside the target (it must leave nothing there if it fails), which gets `mode`
    and is renamed over the target (publish_over: its old sidecars moved aside first)."""
    started = time.monotonic()
    target = check_new_file_target(target, overwrite)
    user_dir(target.parent, "target folder")
    tmp = run.work_path(target.parent, "restore")
    produce(tmp)
    try:
        os.chmod(tmp, mode, follow_symlinks=False)
        cancel.check()
        publish_over(tmp, target, run)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return RestoreResult(target, "new-file", time.monotonic() - started)


def replace_in_place(
    verified: Path,
    target: Path,
    *,
    page_size: int,
    run: Run,
    busy_timeout: float = 30.0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    before_commit: Callable[[], object] | None = None,
    reading: CopyReading | None = None,
    alone: Callable[[], object] | None = None,
    already_held: Callable[[bool], bool] | None = None,
) -> RestoreResult:
    """Replace the content of the database at `target` with the verified copy's.

    Through SQLite where the target opens (one transaction: entirely old or entirely
    new, and connected programs see the new content); else as an atomic file replace.
    `before_commit` (the copy's check, run beside the write) is waited for before the
    step that commits and before a file replace: if it raises, nothing was changed.
    `reading` (core/restore_steps.CopyReading): how the write reads `verified` while it
    is still written (each step of a WAL target's write waits for the pages it reads),
    frees it behind, and lets it go once committed. `alone` is waited for before a
    write that would lock our own readers of the target out (a rollback-journal
    target's, a file replace's); a WAL target's write goes to the WAL, and a reader
    holding WAL read lock 0 (the safety snapshot) reads on. `already_held(final)`, asked
    under the write lock after each step (`final`: after `before_commit`, when it must
    know): True (core/restore_unchanged.py) rolls the write back, method "unchanged"."""
    started = time.monotonic()
    cancel = cancel or CancelToken()
    cancel.check()
    gate, settle, reading = before_commit or _no_gate, alone or _no_gate, reading or CopyReading()
    if not says_wal(target):
        # SQLite may change a file as it opens it (a hot journal rolled back, an empty
        # WAL removed at close): what is there is kept first, as it is
        settle()
    conn = _open_target(target, busy_timeout, settle)
    if conn is not None:
        try:
            mode = _writable_mode(conn, page_size)
            if mode is not None:
                if mode != "wal":
                    settle()
                held = already_held or _not_held
                method = _write_through(
                    verified, conn, busy_timeout, progress, cancel, gate, reading, held
                )
                return RestoreResult(target, method, time.monotonic() - started)
            reading.whole()
            settle()
            gate()
            _drain_wal(conn, target)
        finally:
            close_when_settled(conn, settle)
    reading.whole()
    settle()
    gate()
    _replace_file(verified, target, run, cancel)
    return RestoreResult(target, "file-replace", time.monotonic() - started)


def _write_through(
    verified: Path,
    conn: sqlite3.Connection,
    busy_timeout: float,
    progress: Progress,
    cancel: CancelToken,
    gate: Callable[[], object],
    reading: CopyReading,
    held: Callable[[bool], bool],
) -> str:
    """The write through the backup API, then the checkpoint; its method."""
    try:
        copy_into(verified, conn, busy_timeout, progress, cancel, gate, reading, held)
    except AlreadyHeld:
        return "unchanged"  # rolled back: the target holds it already
    reading.finished()
    checkpoint(conn)
    return "backup-api"


def publish_over(
    new: Path, target: Path, run: Run, new_sidecars: Mapping[str, Path] | None = None
) -> None:
    """Rename the new file over `target`. Its old -wal/-shm/-journal must never be
    applied to the new file: they are renamed to work files first (SQLite no longer sees
    them), and removed once the new file is in place. `new_sidecars` (suffix -> work
    file: the new file's own -wal, ...) are put in place before it: the database file
    comes last."""
    unknown = set(new_sidecars or ()) - set(SIDECARS)
    if unknown:
        raise ValueError(f"not SQLite sidecar suffixes: {sorted(unknown)}")
    aside = []
    for suffix in SIDECARS:
        sidecar = Path(f"{target}{suffix}")
        if os.path.lexists(sidecar):
            moved = run.work_path(target.parent, "sidecar")
            os.replace(sidecar, moved)
            aside.append(moved)
    for suffix, work in (new_sidecars or {}).items():
        os.replace(work, Path(f"{target}{suffix}"))
    publish(new, target)
    for moved in aside:
        with contextlib.suppress(OSError):
            os.unlink(moved)
    if aside:
        fsync_dir(target.parent)


def new_file_mode(manifest: Manifest) -> int:
    """The mode the snapshot's source database had (0600 when unknown)."""
    mode = manifest.extra.get("source_mode")
    return int(mode) & 0o666 if isinstance(mode, int) and not isinstance(mode, bool) else FILE_MODE


# -- in place, through SQLite -------------------------------------------------------


def _open_target(
    target: Path, busy_timeout: float, before_close: Callable[[], object]
) -> sqlite3.Connection | None:
    """A read-write connection to the target, or None if it cannot be used as SQLite
    (`before_close` waited for before the connection that found that is closed: its
    close may remove the target's WAL)."""
    try:
        conn = sqlite3.connect(
            file_uri(target, mode="rw"),
            uri=True,
            isolation_level=None,
            timeout=min(busy_timeout, 1.0),
            check_same_thread=False,
        )
    except sqlite3.Error:
        return None
    try:
        _retry_busy(
            lambda: conn.execute("select count(*) from sqlite_master").fetchone(),
            busy_timeout,
            target,
        )
        # Said, not left to the build's default: the commit fsyncs the WAL, so a restore
        # that says it is done survives a power loss even before the checkpoint after it
        conn.execute("pragma synchronous=FULL")
        return without_passive_checkpoints(conn)  # core/wal_reset.py
    except SourceBusy:
        conn.close()
        raise
    except sqlite3.DatabaseError:
        try:
            before_close()
        finally:
            conn.close()
        return None


def _writable_mode(conn: sqlite3.Connection, page_size: int) -> str | None:
    """The target's journal mode if the backup API can write into it, else None (a WAL
    database of another page size: the backup API cannot change it)."""
    mode = str(conn.execute("pragma journal_mode").fetchone()[0]).lower()
    current = int(conn.execute("pragma page_size").fetchone()[0])
    return mode if mode != "wal" or current == page_size else None


def _no_gate() -> None:
    return None


def _not_held(final: bool) -> bool:
    return False


def _drain_wal(conn: sqlite3.Connection, target: Path) -> None:
    """Before replacing a readable WAL database's file, empty its WAL into it."""
    if str(conn.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
        return
    if passive_checkpoints_allowed():
        busy, _, _ = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
    else:
        busy = _copy_back_holding_writes(conn, target)
    if busy:
        raise SourceBusy(
            f"{target} is in use by another program, and its page size differs"
            " from the snapshot's, so it must be replaced as a file; nothing "
            "was changed",
            "close the programs that use it, then retry",
        )


def _copy_back_holding_writes(conn: sqlite3.Connection, target: Path) -> bool:
    """Where Lifeboat's SQLite has the WAL-reset bug: every frame copied back while
    another connection of ours holds the write lock, so that no commit can reset the WAL
    under the checkpoint (a TRUNCATE one that finds the write lock busy quietly runs as
    PASSIVE: core/wal_reset.py); True when the app's readers or writers kept it from
    copying them all."""
    with checkpoint_allowed(target) as allowed:
        if not allowed:
            return True
        busy, log, copied = conn.execute("pragma wal_checkpoint(passive)").fetchone()
    return bool(busy) or log != copied


def _retry_busy(action: Callable[[], _T], timeout: float, target: Path) -> _T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise SourceBusy(
                    f"{target} stayed locked by another program for "
                    f"{timeout:g} s; nothing was changed",
                    "close the program that writes to it, then retry",
                ) from None
            time.sleep(0.05)


# -- in place, as a file ------------------------------------------------------------


def _replace_file(verified: Path, target: Path, run: Run, cancel: CancelToken) -> None:
    """Copy the verified database next to the target as a work file with the target's
    identity, then rename it over the target."""
    require_space(target.parent, verified.stat().st_size + (16 << 20), "the restored file")
    identity = identity_of(target) if os.path.lexists(target) else None
    tmp = run.work_path(target.parent, "restore")
    try:
        with open(verified, "rb") as src, open_new(tmp) as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
            dst.flush()
            if identity is not None:
                give_identity(dst.fileno(), target, identity)
            os.fsync(dst.fileno())
        cancel.check()
        publish_over(tmp, target, run)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
