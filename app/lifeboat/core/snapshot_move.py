"""Moving a source's snapshots to another folder, so that a kill at any moment leaves
every snapshot usable in one of the two places.

The move is in steps, and the old files are the last thing touched:

1. `copy_snapshots`: each file of each snapshot the old folder holds (its artifact, page
   list, raw copy files, manifest) is copied into a work file of this run in the new
   folder (created exclusively, 0600), fsynced, read back, and its SHA-256 compared with
   what was read and with what the manifest says. A killed run leaves only work files,
   which the next sweep removes; a full disk removes them at once and says so.
2. `publish_copies`: each work file gets its final name by a hard link (never replacing
   anything; a raw copy folder by a rename onto a name that does not exist), the manifest
   last, so a manifest in the new folder always has its files beside it.
3. The caller switches the config (and the catalog) to the new folder.
4. `remove_old_copies`: the old files are deleted the way the user's deletions are
   (core/leftovers.py: manifest to tombstone, files, tombstone), and the old folder itself
   once nothing else is in it.

A file that is already in the new folder with the same bytes (a move that was killed
after step 2) is not copied again; one with other bytes stops the move before anything
is published. What the old folder holds that is not a complete snapshot with a readable
manifest (an orphan file, an unreadable or newer manifest) stays where it is and is
named in the report. No Qt, no network.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.fsutil import free_bytes, fsync_dir
from lifeboat.core.hashing import sha256_file
from lifeboat.core.leftovers import delete_snapshot_files, sweep_folder
from lifeboat.core.manifest import AGE_SUFFIX, OWNERS_SUFFIX, PAGES_SUFFIX, Manifest
from lifeboat.core.private import disk_full, make_new_dir, open_new
from lifeboat.core.runs import Run
from lifeboat.core.scan import scan_folder
from lifeboat.core.workspace import FOLDER_LOCK_NAME
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.units import format_bytes

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One thing a snapshot is made of, by its name in the folder: a file (`files` holds
    only `name`) or a raw copy's folder (`files`: the names inside it). `expected`: the
    SHA-256 the manifest gives each (None: the manifest file itself)."""

    name: str
    expected: dict[str, str | None]
    is_folder: bool = False


@dataclass
class SnapshotCopy:
    manifest: Manifest
    status: str  # as the scan found it: ok | missing | corrupt
    entries: list[Entry]
    #: work name in the new folder of each entry copied (entries already there: absent)
    work: dict[str, Path] = field(default_factory=dict)
    damaged: bool = False  # a file did not match its manifest before it was moved


@dataclass
class MoveReport:
    source: str
    old_folder: Path
    new_folder: Path
    moved: list[str] = field(default_factory=list)  # snapshot ids
    damaged: list[str] = field(default_factory=list)  # moved as they were, still damaged
    left: list[str] = field(default_factory=list)  # "path: why" left in the old folder
    copied_bytes: int = 0
    history_segments: int = 0  # segments of continuous history moved with them


def plan_copies(folder: Path) -> tuple[list[SnapshotCopy], list[str]]:
    """Each snapshot of `folder` with the files it is made of, and what stays behind."""
    scan = scan_folder(folder)
    copies = [SnapshotCopy(m, status, _entries(folder, m)) for m, status in scan.found]
    left = [f"{p}: {why}" for p, why in (*scan.unreadable, *scan.newer)]
    left += [f"{p}: a snapshot file without its manifest" for p in scan.orphans]
    return copies, left


def _entries(folder: Path, manifest: Manifest) -> list[Entry]:
    entries: list[Entry] = []
    stored = manifest.stored_name
    if manifest.kind == "raw":
        listed = manifest.extra.get("files")
        suffix = AGE_SUFFIX if manifest.local_encryption else ""
        if isinstance(listed, dict) and (folder / stored).is_dir():
            files = {f"{name}{suffix}": str(sha) for name, sha in listed.items()}
            entries.append(Entry(stored, dict(files), is_folder=True))
    elif (folder / stored).exists():
        sealed = manifest.local_encryption
        entries.append(Entry(stored, {stored: sealed.sha256 if sealed else manifest.sha256}))
    pages = manifest.stem + PAGES_SUFFIX
    if (folder / pages).exists():
        entries.append(Entry(pages, {pages: manifest.pages_sha256}))
    owners = manifest.stem + OWNERS_SUFFIX  # checksummed inside: read back before use
    if (folder / owners).exists():
        entries.append(Entry(owners, {owners: None}))
    entries.append(Entry(manifest.manifest_name, {manifest.manifest_name: None}))
    return entries


def copy_snapshots(old: Path, new: Path, copies: list[SnapshotCopy], run: Run) -> int:
    """Step 1: every entry not yet in `new` copied to a verified work file there; the
    bytes copied. On any failure this run's work files are removed and nothing else in
    either folder has changed."""
    try:
        needed = sum(_size(old, e) for c in copies for e in c.entries if not _there(new, e))
        require_space(old, new, needed + (1 << 20))
        copied = 0
        for copy in copies:
            for entry in copy.entries:
                copied += _copy_entry(old, new, copy, entry, run)
        return copied
    except BaseException as exc:
        discard_work(copies)
        if isinstance(exc, OSError) and disk_full(exc):
            raise OperationFailed(
                f"the disk holding {new} is full; nothing was moved: the snapshots are "
                f"still in {old}",
                "free some space there, or choose another folder",
            ) from None
        if isinstance(exc, OSError):
            raise OperationFailed(
                f"cannot copy the snapshots to {new}: {exc.strerror or exc}; nothing was "
                f"moved: they are still in {old}",
                "check that the folder is writable",
            ) from None
        raise


def require_space(old: Path, new: Path, needed: int) -> None:
    free = free_bytes(new)
    if free < needed:
        raise OperationFailed(
            f"there is not enough free space in {new} for the snapshots (they need "
            f"{format_bytes(needed)}, {format_bytes(free)} is free); nothing was moved: "
            f"they are still in {old}",
            "free some space there, or choose another folder",
        )


def _there(new: Path, entry: Entry) -> bool:
    return os.path.lexists(new / entry.name)


def _size(old: Path, entry: Entry) -> int:
    if entry.is_folder:
        return sum((old / entry.name / name).stat().st_size for name in entry.expected)
    return (old / entry.name).stat().st_size


def _copy_entry(old: Path, new: Path, copy: SnapshotCopy, entry: Entry, run: Run) -> int:
    if _there(new, entry):
        _check_same(old, new, copy, entry)
        return 0
    work = run.work_path(new, "move")
    copy.work[entry.name] = work
    if not entry.is_folder:
        return _copy_file(old / entry.name, work, copy, entry.expected[entry.name])
    make_new_dir(work)
    copied = sum(
        _copy_file(old / entry.name / name, work / name, copy, expected)
        for name, expected in entry.expected.items()
    )
    fsync_dir(work)
    return copied


def _copy_file(src: Path, dst: Path, copy: SnapshotCopy, expected: str | None) -> int:
    size, as_expected = copy_verified(src, dst, expected)
    if not as_expected:
        copy.damaged = True
    return size


def copy_verified(src: Path, dst: Path, expected: str | None) -> tuple[int, bool]:
    """Copy `src` to the new file `dst`, fsync it, read it back: its SHA-256 must be
    what was read. Returns the size and whether it is the `expected` SHA-256 (one that
    differs marks what it belongs to damaged: it was so before, the copy is faithful)."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open_new(dst) as fout:
        while block := fin.read(_BLOCK):
            digest.update(block)
            fout.write(block)
            size += len(block)
        fout.flush()
        os.fsync(fout.fileno())
    if sha256_file(dst) != digest.hexdigest():
        raise OperationFailed(
            f"the copy of {src.name} in {dst.parent} does not read back as written; "
            "nothing was moved",
            "check that disk, or choose another folder",
        )
    return size, expected is None or digest.hexdigest() == expected


def _check_same(old: Path, new: Path, copy: SnapshotCopy, entry: Entry) -> None:
    """An entry already in the new folder (a move killed after publishing it) must hold
    exactly the old bytes; else the move stops before anything is published."""
    names = list(entry.expected) if entry.is_folder else [""]
    for name in names:
        there, here = new / entry.name / name, old / entry.name / name
        if not there.is_file() or there.is_symlink() or sha256_file(there) != sha256_file(here):
            raise OperationFailed(
                f"{new} already holds a different {entry.name}; nothing was moved",
                "choose another folder, or move that file away",
            )


def publish_copies(new: Path, copies: list[SnapshotCopy]) -> None:
    """Step 2: give every work file its final name, the manifest last, never replacing a
    file (a name taken meanwhile stops the move; what is published stays complete)."""
    for copy in copies:
        for entry in copy.entries:
            work = copy.work.pop(entry.name, None)
            if work is None:
                continue
            final = new / entry.name
            if entry.is_folder:
                if os.path.lexists(final):
                    raise FileExistsError(f"{final} appeared meanwhile")
                os.rename(work, final)
            else:
                os.link(work, final)
                os.unlink(work)
        fsync_dir(new)


def discard_work(copies: list[SnapshotCopy]) -> None:
    """Remove this run's work files of a move that stops (nothing else)."""
    for copy in copies:
        for work in copy.work.values():
            with contextlib.suppress(OSError):
                if work.is_dir() and not work.is_symlink():
                    shutil.rmtree(work)
                else:
                    work.unlink()
        copy.work.clear()


def remove_old_copies(old: Path, copies: list[SnapshotCopy], run_dir: Path) -> list[str]:
    """Step 4: delete the moved snapshots' old files the way a deletion the user decided
    goes; then the old folder if nothing else is in it. Returns what could not be removed
    (finished by the next sweep: a tombstone stays)."""
    problems: list[str] = []
    for copy in copies:
        try:
            delete_snapshot_files(old, copy.manifest)
        except OSError as exc:
            problems.append(f"{copy.manifest.id}: {exc}")
    sweep_folder(old, run_dir)
    with contextlib.suppress(OSError):
        if set(os.listdir(old)) <= {FOLDER_LOCK_NAME}:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old / FOLDER_LOCK_NAME)
            os.rmdir(old)
    return problems


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or somewhere inside it (both absolute)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True
