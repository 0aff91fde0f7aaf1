"""Moving a source's snapshots to another folder: the steps of core/snapshot_move.py
with the locks, the config switch and the catalog around them.

Both folders are locked for the whole copy (no backup, prune or restore writes or
deletes in either meanwhile). The config and then the catalog are switched only once
every snapshot is complete in the new folder; the old files are deleted last. Killed
before the switch: the snapshots are in the old folder, which the config still names
(the copies already published in the new one are complete and verified; moving again
uses them). Killed after it: they are complete in both, and `catalog rebuild` finds
them wherever the config and the catalog point.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from lifeboat.core.config import validate_value
from lifeboat.core.fsutil import FileLock
from lifeboat.core.history.folder_lock import held_for_move
from lifeboat.core.history.folder_move import (
    copy_history,
    discard_history_work,
    publish_history,
    remove_old_history,
)
from lifeboat.core.leftovers import sweep_folder
from lifeboat.core.private import private_dir
from lifeboat.core.snapshot_move import (
    MoveReport,
    copy_snapshots,
    discard_work,
    is_inside,
    plan_copies,
    publish_copies,
    remove_old_copies,
)
from lifeboat.core.workspace import FOLDER_LOCK_NAME, FOLDER_LOCK_PATIENCE, Workspace
from lifeboat.foundation.errors import AlreadyRunning, ConfigError
from lifeboat.service.history import HISTORY_FOLDER

log = logging.getLogger(__name__)


def move_snapshots(workspace: Workspace, name: str, dest: Path | str) -> MoveReport:
    """Make `dest` the folder `name`'s snapshots go to, moving the existing ones there."""
    new_root = Path(dest).expanduser().absolute()
    try:
        validate_value("source", "dest", str(new_root))
    except ValueError as exc:
        raise ConfigError(f"dest: {exc}", "choose another folder") from None
    config = workspace.config()
    source = config.source(name)
    old = workspace.snapshot_folder(config, source)
    new = new_root / source.name
    report = MoveReport(source.name, old, new)
    if os.path.realpath(new) == os.path.realpath(old):
        _switch_config(workspace, name, new_root)
        return report
    if is_inside(new, old):
        raise ConfigError(
            f"{new_root} is inside the folder the snapshots are in now ({old})",
            "choose a folder outside it",
        )
    if not old.is_dir():  # nothing was backed up yet: only the setting changes
        _switch_config(workspace, name, new_root)
        return report
    old_lock = _locked(old, source.name)
    try:
        history_lock = _history_locked(old / HISTORY_FOLDER, source.name)
        try:
            _move_locked(workspace, name, new_root, report)
        finally:
            history_lock.release()
    finally:
        old_lock.release()
    log.info(
        "moved %d snapshot(s) of %s from %s to %s", len(report.moved), name, report.old_folder, new
    )
    return report


def _move_locked(workspace: Workspace, name: str, new_root: Path, report: MoveReport) -> None:
    config = workspace.config()
    source = config.source(name)
    new_source = replace(source, dest=new_root)
    new = workspace.source_folder(config, new_source)
    new_lock = _locked(new, source.name)
    old = report.old_folder
    try:
        _finish_decided_deletions(workspace, old)
        copies, report.left = plan_copies(old)
        history = None
        try:
            report.copied_bytes = copy_snapshots(old, new, copies, workspace.run)
            # the old history folder is there (the move made it if need be, to hold it);
            # the new one only if there are segments to move
            history = copy_history(old / HISTORY_FOLDER, new / HISTORY_FOLDER, name, workspace.run)
            report.copied_bytes += history.copied_bytes
            publish_copies(new, copies)
            if history is not None:
                publish_history(history)
        finally:
            discard_work(copies)
            if history is not None:
                discard_history_work(history)
        _switch_config(workspace, name, new_root)
        workspace.catalog.replace_folder_snapshots(
            new, [(c.manifest, new, c.status) for c in copies]
        )
    finally:
        new_lock.release()
    report.moved = [c.manifest.id for c in copies]
    report.damaged = [c.manifest.id for c in copies if c.damaged]
    if history is not None:
        report.history_segments = len(history.segments)
        sweep_folder(history.old, workspace.paths.run_dir)
        for problem in remove_old_history(history, workspace.run):
            report.left.append(f"{history.old}: {problem}")
    for problem in remove_old_copies(old, copies, workspace.paths.run_dir):
        report.left.append(f"{old}: {problem} (removed later)")


def _finish_decided_deletions(workspace: Workspace, old: Path) -> None:
    """Before anything is copied (both old folders held): finish the deletions decided
    there (a tombstone a killed run left), so that a move neither brings them back in
    the new folder nor leaves them where no sweep will look again."""
    for folder in (old, old / HISTORY_FOLDER):
        for problem in sweep_folder(folder, workspace.paths.run_dir).problems:
            log.warning("%s: a deletion could not be finished before the move: %s", folder, problem)


def _history_locked(folder: Path, name: str) -> FileLock:
    """The old history folder, held for the whole move. Made (0700) if there is none
    yet: a follower making it while the move runs (another process) must find it held,
    and then marked moved, like any other, not copied and removed under its feet."""
    private_dir(folder, "history folder")
    lock = held_for_move(folder, FOLDER_LOCK_PATIENCE)
    if lock is None:
        raise AlreadyRunning(
            f"the continuous history of {name} is being written in {folder}",
            "try again in a moment",
        )
    return lock


def _switch_config(workspace: Workspace, name: str, new_root: Path) -> None:
    with workspace.edit_config() as edit:
        source = edit.config.source(name)
        if source.dest != new_root:
            edit.config = edit.config.with_source(replace(source, dest=new_root))


def _locked(folder: Path, name: str) -> FileLock:
    lock = FileLock(folder / FOLDER_LOCK_NAME)
    if not lock.acquire_within(FOLDER_LOCK_PATIENCE):
        raise AlreadyRunning(
            f"a backup, restore or clean-up of {name} is using {folder}",
            "try again when it has finished",
        )
    return lock
