"""Find snapshots on disk by their manifests (the files are the truth).

A scan only reads. What it cannot use (an artifact without a manifest, a manifest it
cannot read or that a newer Lifeboat wrote) it reports as needing attention; it never
deletes anything (see core/leftovers.py for what may be deleted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.catalog_records import AttentionItem
from lifeboat.core.leftovers import SNAPSHOT_FILE_SUFFIXES, is_being_deleted
from lifeboat.core.manifest import (
    MANIFEST_SUFFIX,
    OWNERS_SUFFIX,
    PAGES_SUFFIX,
    RAW_SUFFIX,
    SOURCE_NAME_RE,
    STEM_RE,
    Manifest,
    ManifestError,
    NewerManifest,
    iso_utc,
    read_manifest,
    utc_now,
)

ORPHAN = "orphan"  # an artifact without a manifest
UNREADABLE = "unreadable-manifest"
NEWER = "newer-format"
DELETING = "deleting"


@dataclass
class FolderScan:
    folder: Path
    found: list[tuple[Manifest, str]] = field(default_factory=list)  # (manifest, status)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    newer: list[tuple[Path, str]] = field(default_factory=list)  # kept untouched
    orphans: list[Path] = field(default_factory=list)  # artifacts without a manifest
    #: files of snapshots the user deleted whose deletion is not finished yet
    deleting: list[Path] = field(default_factory=list)

    def attention(self) -> list[AttentionItem]:
        """What this folder holds that needs the user's attention (kept, never deleted)."""
        source = self.folder.name if SOURCE_NAME_RE.match(self.folder.name) else None
        now = iso_utc(utc_now())
        items = [
            AttentionItem(
                p,
                self.folder,
                source,
                UNREADABLE,
                f"its manifest cannot be read ({why}); the snapshot is kept "
                "and can be recovered from its file",
                now,
            )
            for p, why in self.unreadable
        ]
        items += [
            AttentionItem(p, self.folder, source, NEWER, f"{why}; it is kept untouched", now)
            for p, why in self.newer
        ]
        items += [
            AttentionItem(
                p,
                self.folder,
                source,
                ORPHAN,
                "the page list of a snapshot whose manifest is missing; it is kept"
                if p.name.endswith((PAGES_SUFFIX, OWNERS_SUFFIX))
                else "a snapshot file without its manifest; it is kept and can be "
                "recovered from the file",
                now,
            )
            for p in self.orphans
        ]
        items += [
            AttentionItem(
                p,
                self.folder,
                source,
                DELETING,
                "deleted as you decided, but the "
                "file could not be removed yet; it is tried again at each backup",
                now,
            )
            for p in self.deleting
        ]
        return items


def scan_root(root: Path) -> list[FolderScan]:
    """Scan every source folder under a snapshot root."""
    return [scan_folder(folder) for folder in source_folders(root)]


def source_folders(root: Path) -> list[Path]:
    """The source folders under a snapshot root (what scan_root scans), in name order."""
    if not root.is_dir():
        return []
    return [
        child
        for child in sorted(root.iterdir())
        if child.is_dir() and not child.is_symlink() and not child.name.startswith(".")
    ]


def scan_folder(folder: Path) -> FolderScan:
    scan = FolderScan(folder)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return scan
    described: set[str] = set()
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        stem = name.removesuffix(MANIFEST_SUFFIX)
        if not STEM_RE.match(stem):
            continue
        # A text path: a Path interns each of its names in Python's table of interned
        # strings, which grows with them and never shrinks (with 10,000 snapshots the
        # tray's start-up tidy left it ~2 MB larger for good); a Path only for a problem
        path = os.path.join(folder, name)
        described.add(stem)
        try:
            manifest = read_manifest(path)
        except NewerManifest as exc:
            scan.newer.append((Path(path), str(exc)))
            continue
        except ManifestError as exc:
            scan.unreadable.append((Path(path), str(exc)))
            continue
        if manifest.stem != stem:
            scan.unreadable.append((Path(path), "its content names another snapshot"))
            continue
        scan.found.append((manifest, artifact_status(folder, manifest)))
    for name in names:
        artifact_stem = _artifact_stem(name)
        if artifact_stem is None or artifact_stem in described or not STEM_RE.match(artifact_stem):
            continue
        if is_being_deleted(folder, artifact_stem):
            scan.deleting.append(folder / name)
        else:
            scan.orphans.append(folder / name)
    return scan


def artifact_status(folder: Path, manifest: Manifest) -> str:
    """ "ok", "corrupt" (not the size its manifest records) or "missing"."""
    artifact = os.path.join(folder, manifest.stored_name)  # text: see scan_folder
    if manifest.kind == "raw":
        return "ok" if os.path.isdir(artifact) else "missing"
    try:
        return "ok" if os.stat(artifact).st_size == manifest.stored_size else "corrupt"
    except OSError:
        return "missing"


def _artifact_stem(name: str) -> str | None:
    if name.startswith("."):
        return None
    for suffix in SNAPSHOT_FILE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    if name.endswith(RAW_SUFFIX):
        return name.removesuffix(RAW_SUFFIX)
    return None
