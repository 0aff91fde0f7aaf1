"""What Lifeboat deletes on its own, and nothing else.

Only two kinds of file are ever removed without the user naming them:

* the incomplete work of a run that has ended: a name `.lb-<run>-<random>.<kind>.partial`
  (see core/runs.py) whose run no longer holds its lock; and
* the rest of a deletion the user decided (prune by policy, or an explicit delete): the
  manifest is first renamed to the tombstone `.<stem>.deleting`, then the artifact goes,
  then the tombstone. A run killed in between leaves a tombstone, and the next sweep
  finishes that deletion (a history segment's too).

A completed-named artifact (`*.sqlite.zst`, `*.diff.zst`, `*.age`, `*.pages`, `*.raw/`,
`*.raw.age/`) is never removed because its manifest is missing, damaged or from a newer
Lifeboat: a scan reports those (core/scan.py) and `lifeboat catalog rebuild` recovers them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.catalog import Catalog
from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.manifest import (
    DIFF_SUFFIX,
    FULL_SUFFIX,
    MANIFEST_SUFFIX,
    OWNERS_SUFFIX,
    PAGES_SUFFIX,
    RAW_SUFFIX,
    STEM_RE,
    Manifest,
)
from lifeboat.core.private import write_new
from lifeboat.core.runs import WORK_RE, Run, RunState, pid_alive, run_state

TOMBSTONE_SUFFIX = ".deleting"
#: Suffixes of the files that make up one snapshot, besides its manifest.
SNAPSHOT_FILE_SUFFIXES = (
    FULL_SUFFIX,
    DIFF_SUFFIX,
    FULL_SUFFIX + ".age",
    DIFF_SUFFIX + ".age",
    PAGES_SUFFIX,
    OWNERS_SUFFIX,  # a continuous base's page owners
    RAW_SUFFIX,
    RAW_SUFFIX + ".age",  # a raw copy of a source kept encrypted (core/rawcopy.py)
)
#: A segment of continuous history (core/history/chain.SEGMENT_SUFFIX, plain or sealed):
#: its tombstone in a history folder finishes its removal the same way, so that a
#: removal decided before a kill is finished, not undone (a move carries no tombstone).
SEGMENT_FILE_SUFFIXES = (".seg.zst", ".seg.zst.age")
# Names older Lifeboat versions gave their work files (removed only under the same proof
# those versions used: they wrote them only while holding the folder's lock).
_LEGACY_PARTIAL_RE = re.compile(r"^\..+\.(partial|tmp|tmp-\d+)$")
# Scratch files older versions left in the temp folder: with the pid that made them...
_LEGACY_PID_RE = re.compile(
    r"^(restore|preview|fetch|drill)-[0-9a-f]{8}-(?P<pid>\d+)"
    r"(\.sqlite)?$"
)
# ... or without one (made only while a job of that version ran).
_LEGACY_JOB_RE = re.compile(
    r"^(verify-[0-9a-f]{8}\.sqlite|open-[0-9a-f]{8}-\w+|"
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}-\d{8}T\d{6}Z-[0-9a-f]{8}"
    r"\.copy\.sqlite)$"
)


@dataclass
class Sweep:
    removed: list[Path] = field(default_factory=list)
    #: stems of snapshots whose interrupted deletion was finished
    finished_deletions: list[str] = field(default_factory=list)
    #: what could not be done (said to the user; retried by the next sweep)
    problems: list[str] = field(default_factory=list)


def sweep_folder(folder: Path, run_dir: Path) -> Sweep:
    """Remove the work files of ended runs in `folder` and finish interrupted deletions."""
    sweep = Sweep()
    try:
        names = os.listdir(folder)
    except OSError:
        return sweep
    for name in names:
        match = WORK_RE.match(name)
        if match and run_state(run_dir, match.group("run")) is RunState.ENDED:
            if _remove(Path(folder) / name):
                sweep.removed.append(Path(folder) / name)
        elif name.startswith(".") and name.endswith(TOMBSTONE_SUFFIX):
            stem = name[1:].removesuffix(TOMBSTONE_SUFFIX)
            if STEM_RE.match(stem):
                try:
                    finish_deletion(Path(folder), stem)
                except OSError as exc:
                    sweep.problems.append(f"{stem}: {exc}")
                    continue
                sweep.finished_deletions.append(stem)
    return sweep


def remove_legacy_work(folder: Path) -> list[Path]:
    """Work files named by older Lifeboat versions (`.<name>.partial`, `.<name>.tmp`).
    Call only while holding the folder's lock: those versions wrote them only under it."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if WORK_RE.match(name) or not _LEGACY_PARTIAL_RE.match(name):
            continue
        inner = name[1:].rsplit(".", 1)[0]
        if inner.endswith(".tmp"):  # ".<name>.tmp-<pid>" of an atomic write
            inner = inner.removesuffix(".tmp")
        if STEM_RE.match(_stem_of(inner) or "") and _remove(Path(folder) / name):
            removed.append(Path(folder) / name)
    return removed


def sweep_legacy_temp(temp_root: Path, catalog: Catalog) -> list[Path]:
    """Scratch files an older Lifeboat (before runs) left in Lifeboat's own private temp
    folder, never in a folder the user chose: only this user's entries with names only
    Lifeboat gave, and proven abandoned as far as those versions allow: the pid in the
    name has ended, or (names without one) no job of such a version still runs."""
    try:
        names = os.listdir(temp_root)
    except OSError:
        return []
    removed = []
    legacy_jobs_alive = None
    for name in names:
        path = Path(temp_root) / name
        if not _mine(path):
            continue
        match = _LEGACY_PID_RE.match(name)
        if match is not None:
            if not pid_alive(int(match.group("pid"))) and _remove(path):
                removed.append(path)
            continue
        if _LEGACY_JOB_RE.match(name):
            if legacy_jobs_alive is None:
                legacy_jobs_alive = any(
                    job.run is None and pid_alive(job.pid) for job in catalog.unfinished_jobs()
                )
            if not legacy_jobs_alive and _remove(path):
                removed.append(path)
    return removed


def delete_snapshot_files(folder: Path, manifest: Manifest) -> None:
    """Delete a snapshot's files as the user decided: tombstone, artifact(s), tombstone.
    Raises OSError if the manifest cannot be renamed (then nothing was deleted)."""
    manifest_path = Path(folder) / manifest.manifest_name
    tombstone = Path(folder) / f".{manifest.stem}{TOMBSTONE_SUFFIX}"
    if os.path.lexists(manifest_path):
        os.replace(manifest_path, tombstone)
        fsync_dir(Path(folder))
    finish_deletion(Path(folder), manifest.stem)


def finish_deletion(folder: Path, stem: str) -> None:
    """Remove the files of the snapshot `stem` (only names made from the stem, whatever
    its manifest says), then its tombstone: kept if a file could not be removed, so the
    deletion is finished later and never mistaken for a snapshot to recover."""
    left = [
        folder / (stem + suffix)
        for suffix in SNAPSHOT_FILE_SUFFIXES + SEGMENT_FILE_SUFFIXES
        if not _remove(folder / (stem + suffix)) and os.path.lexists(folder / (stem + suffix))
    ]
    if not left:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / f".{stem}{TOMBSTONE_SUFFIX}")
    fsync_dir(folder)
    if left:
        raise OSError(f"could not remove {', '.join(p.name for p in left)}")


def keep_damaged_manifest(path: Path, run: Run) -> Path:
    """Before a damaged manifest is replaced by a re-derived one, keep its bytes beside
    it as `<name>.damaged` (then `.damaged-2`, ...): nothing is lost, and scans skip it."""
    data = path.read_bytes()
    for number in range(1, 1000):
        kept = path.with_name(path.name + (".damaged" if number == 1 else f".damaged-{number}"))
        work = run.work_path(path.parent, "damaged")
        write_new(work, data)
        try:
            os.link(work, kept)  # fails if the name is taken: never replaces anything
        except FileExistsError:
            os.unlink(work)
            continue
        os.unlink(work)
        fsync_dir(path.parent)
        return kept
    raise OSError(f"too many kept copies of {path.name}")


def is_being_deleted(folder: Path, stem: str) -> bool:
    return os.path.lexists(Path(folder) / f".{stem}{TOMBSTONE_SUFFIX}")


def _stem_of(name: str) -> str | None:
    for suffix in (*SNAPSHOT_FILE_SUFFIXES, MANIFEST_SUFFIX, ".copy.sqlite"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return None


def _mine(path: Path) -> bool:
    try:
        return os.name == "nt" or os.lstat(path).st_uid == os.geteuid()
    except OSError:
        return False


def _remove(path: Path) -> bool:
    """Remove a file, or a folder with what it holds (links inside are removed, never
    followed); True if something was removed."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return False
