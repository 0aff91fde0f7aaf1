"""Tidying a source's snapshot folder before anything is written in it: the work files
of ended runs, deletions a killed run left half done, and what needs the user's
attention. Its own module so the scheduler's start (service/housekeeping.py) tidies
without loading the snapshot machinery: the tray idles with what it uses."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from lifeboat.core.leftovers import remove_legacy_work, sweep_folder
from lifeboat.core.manifest import STEM_RE
from lifeboat.core.scan import scan_folder
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.jobs.unrecorded import record_unrecorded, rewrite_lost_manifests

log = logging.getLogger(__name__)


def tidy_folder(workspace: Workspace, folder: Path, source: str) -> None:
    """Before writing in a source's folder (holding its lock): remove the work files of
    ended runs, finish deletions a killed run left half done, and record what needs the
    user's attention (artifacts without a manifest are kept, never deleted)."""
    swept = sweep_folder(folder, workspace.paths.run_dir)
    removed = swept.removed + remove_legacy_work(folder)
    for path in removed:
        log.info("removed the leftover of an interrupted run: %s", path)
    for stem in swept.finished_deletions:
        log.info("finished deleting snapshot %s (its deletion was interrupted)", stem)
        forget_deleted(workspace, stem)
    for problem in swept.problems:
        log.warning("could not finish deleting a snapshot in %s: %s", folder, problem)
    record_unrecorded(workspace, folder)
    scan = scan_folder(folder)
    if rewrite_lost_manifests(workspace, scan):
        scan = scan_folder(folder)
    # A reason a rebuild found (why a file cannot be recovered) says more than a scan's.
    known = {i.path: i for i in workspace.catalog.attention() if i.folder == folder}
    workspace.catalog.set_attention(folder, [known.get(i.path, i) for i in scan.attention()])


def forget_deleted(workspace: Workspace, stem: str) -> None:
    """The catalog row of a snapshot whose files are gone by the user's decision."""
    match = STEM_RE.match(stem)
    if match is None:
        return
    with contextlib.suppress(LifeboatError):
        workspace.catalog.forget_local_files(match.group("id"))
