"""Find snapshots on disk by their manifests (the files are the truth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.manifest import (
    AGE_SUFFIX,
    DIFF_SUFFIX,
    FULL_SUFFIX,
    MANIFEST_SUFFIX,
    PAGES_SUFFIX,
    STEM_RE,
    Manifest,
    ManifestError,
    read_manifest,
)


@dataclass
class FolderScan:
    folder: Path
    found: list[tuple[Manifest, str]] = field(default_factory=list)  # (manifest, status)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)  # artifacts without a manifest


def scan_root(root: Path) -> list[FolderScan]:
    """Scan every source folder under a snapshot root."""
    if not root.is_dir():
        return []
    return [scan_folder(child) for child in sorted(root.iterdir())
            if child.is_dir() and not child.name.startswith(".")]


def scan_folder(folder: Path) -> FolderScan:
    scan = FolderScan(folder)
    manifests: set[str] = set()
    for path in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
        stem = path.name.removesuffix(MANIFEST_SUFFIX)
        if not STEM_RE.match(stem):
            continue
        try:
            manifest = read_manifest(path)
        except ManifestError as exc:
            scan.unreadable.append((path, str(exc)))
            continue
        if manifest.stem != stem:
            scan.unreadable.append((path, "its content names another snapshot"))
            continue
        manifests.add(stem)
        artifact = folder / manifest.stored_name
        if manifest.kind == "raw":
            status = "ok" if artifact.is_dir() else "missing"
        else:
            try:
                status = "ok" if artifact.stat().st_size == manifest.stored_size \
                    else "corrupt"
            except OSError:
                status = "missing"
        scan.found.append((manifest, status))
    for suffix in (FULL_SUFFIX, DIFF_SUFFIX, PAGES_SUFFIX, FULL_SUFFIX + AGE_SUFFIX,
                   DIFF_SUFFIX + AGE_SUFFIX):
        for path in sorted(folder.glob(f"*{suffix}")):
            stem = path.name.removesuffix(suffix)
            if STEM_RE.match(stem) and stem not in manifests:
                scan.orphans.append(path)
    return scan
