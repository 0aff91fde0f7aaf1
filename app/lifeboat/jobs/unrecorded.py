"""Where the catalog and a snapshot folder's manifests disagree, each is mended from
the other: never by removing anything.

A snapshot a killed run published but did not record: the catalog learns it.

A snapshot's manifest is published (its commit point) before its catalog row is written,
so a run killed in between leaves a whole snapshot the catalog does not know. The files
are the truth (core/scan.py): before anything relies on what the catalog says a source's
folder holds (a backup's base, or the snapshot a restore's or merge's safety snapshot
reuses when it holds exactly what is there now), the folder's manifests the catalog has
no row of are recorded. Called holding the folder's lock. A manifest that cannot be read
is left to the scan that reports it (never removed).

A manifest lost from beside its artifact, whose snapshot the catalog still knows exactly:
it is written back from the catalog's copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lifeboat.core.manifest import (
    MANIFEST_SUFFIX,
    STEM_RE,
    ManifestError,
    read_manifest,
    write_manifest,
)
from lifeboat.core.scan import FolderScan, artifact_status
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError

log = logging.getLogger(__name__)


def record_unrecorded(workspace: Workspace, folder: Path) -> list[str]:
    """Record in the catalog the snapshots of `folder` it has no row of; their ids."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stems: dict[str, str] = {}
    for name in names:
        match = STEM_RE.match(name.removesuffix(MANIFEST_SUFFIX))
        if name.endswith(MANIFEST_SUFFIX) and match is not None:
            stems[match.group("id")] = match.group(0)
    recorded = []
    for snap_id in sorted(workspace.catalog.unknown_ids(stems)):
        path = folder / f"{stems[snap_id]}{MANIFEST_SUFFIX}"
        try:
            manifest = read_manifest(path)
        except (ManifestError, OSError):  # newer, unreadable or gone: the scan says so
            continue
        if manifest.stem != stems[snap_id]:
            continue
        workspace.catalog.add_snapshot(manifest, folder, artifact_status(folder, manifest))
        log.info("recorded snapshot %s, which an interrupted run left unrecorded", snap_id)
        recorded.append(snap_id)
    return recorded


def rewrite_lost_manifests(workspace: Workspace, scan: FolderScan) -> list[str]:
    """Artifacts whose manifest file is gone but whose snapshot the catalog still knows
    exactly (same folder, name and size): the catalog keeps a copy of every manifest, so
    the manifest is written back from it. Returns the ids recovered."""
    recovered = []
    for orphan in scan.orphans:
        match = STEM_RE.match(orphan.name.split(".", 1)[0])
        if match is None:
            continue
        try:
            record = workspace.catalog.snapshot(match.group("id"))
        except LifeboatError:
            continue
        manifest = record.manifest
        artifact = scan.folder / manifest.stored_name
        if (
            record.folder != scan.folder
            or manifest.stem != match.group(0)
            or not artifact.is_file()
            or artifact.stat().st_size != manifest.stored_size
        ):
            continue
        if not (scan.folder / manifest.manifest_name).exists():
            write_manifest(scan.folder, manifest, workspace.run)
            recovered.append(manifest.id)
            log.info("wrote back the lost manifest of snapshot %s from the catalog", manifest.id)
    return recovered
