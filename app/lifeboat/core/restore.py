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
from lifeboat.core.runs import Run
from lifeboat.core.sqlite_file import file_uri
from lifeboat.core.verify import extract_verified
from lifeboat.core.wal_reset import passive_checkpoints_allowed, without_passive_checkpoints
from lifeboat.foundation.errors import LifeboatError, OperationFailed, SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

SIDECARS = ("-wal", "-shm", "-journal")
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_STEP_PAGES = 4096
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
) -> RestoreResult:
    """Replace the content of the database at `target` with the verified copy's.

    Through SQLite where the target opens (one transaction: entirely old or entirely
    new, and connected programs see the new content); else as an atomic file replace.
    `before_commit` (the copy's integrity check, run beside the write) is waited for
    before the step that commits, and before a file replace: if it raises, nothing
    was changed.
    """
    started = time.monotonic()
    cancel = cancel or CancelToken()
    cancel.check()
    gate = before_commit or _no_gate
    conn = _open_target(target, busy_timeout)
    if conn is not None:
        try:
            if _backup_api_can_write(conn, page_size):
                _copy_into(verified, conn, busy_timeout, progress, cancel, gate)
                _checkpoint(conn)
                return RestoreResult(target, "backup-api", time.monotonic() - started)
            gate()
            _drain_wal(conn, target)
        finally:
            conn.close()
    gate()
    _replace_file(verified, target, run, cancel)
    return RestoreResult(target, "file-replace", time.monotonic() - started)


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


def _open_target(target: Path, busy_timeout: float) -> sqlite3.Connection | None:
    """A read-write connection to the target, or None if it cannot be used as SQLite."""
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
        return without_passive_checkpoints(conn)  # core/wal_reset.py
    except SourceBusy:
        conn.close()
        raise
    except sqlite3.DatabaseError:
        conn.close()
        return None


def _backup_api_can_write(conn: sqlite3.Connection, page_size: int) -> bool:
    mode = str(conn.execute("pragma journal_mode").fetchone()[0]).lower()
    current = int(conn.execute("pragma page_size").fetchone()[0])
    return mode != "wal" or current == page_size


def _no_gate() -> None:
    return None


def _copy_into(
    verified: Path,
    conn: sqlite3.Connection,
    busy_timeout: float,
    progress: Progress,
    cancel: CancelToken,
    gate: Callable[[], object],
) -> None:
    """One write transaction on the target; cancelling (or `gate` raising) before the
    end rolls it back. `gate` is waited for before the step that commits: each step
    copies _STEP_PAGES pages, so it is the one that starts with no more left."""
    src = sqlite3.connect(file_uri(verified, mode="ro"), uri=True, check_same_thread=False)
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
            if remaining <= _STEP_PAGES:
                gate()  # the next step commits

    try:
        if int(src.execute("pragma page_count").fetchone()[0]) <= _STEP_PAGES:
            gate()  # the first step is the last
        src.backup(conn, pages=_STEP_PAGES, progress=on_step, sleep=0.05)
    except sqlite3.DatabaseError as exc:
        raise OperationFailed(
            f"writing into the database failed: {exc}; it was left as it was",
            "check free space and permissions, then retry",
        ) from None
    finally:
        src.close()


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the restored pages from the WAL into the file where nobody is in the way;
    left to the app's checkpoints where Lifeboat's SQLite has the WAL-reset bug (a
    PASSIVE checkpoint of it beside the app's commits can lose one: core/wal_reset.py)."""
    if not passive_checkpoints_allowed():
        return
    with contextlib.suppress(sqlite3.Error):
        conn.execute("pragma wal_checkpoint(passive)").fetchone()


def _drain_wal(conn: sqlite3.Connection, target: Path) -> None:
    """Before replacing a readable WAL database's file, empty its WAL into it."""
    if str(conn.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
        return
    busy, _, _ = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
    if busy:
        raise SourceBusy(
            f"{target} is in use by another program, and its page size differs"
            " from the snapshot's, so it must be replaced as a file; nothing "
            "was changed",
            "close the programs that use it, then retry",
        )


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
