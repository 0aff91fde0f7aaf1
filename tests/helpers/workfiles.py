"""What a test needs to check that work files never outlive their work."""

from __future__ import annotations

from pathlib import Path

from lifeboat.core.private import private_dir
from lifeboat.core.runs import start_run
from lifeboat.core.snapshot_request import SnapshotRequest


def files_under(root: Path) -> list[Path]:
    """Every file (not folder) under `root`: a live run's empty scratch folder is not a
    leftover, a file in it is."""
    return sorted(p for p in Path(root).rglob("*") if not p.is_dir()) if root.exists() else []


def snapshot_request(
    tmp_path: Path, db: Path, folder: Path | None = None, **kw: object
) -> SnapshotRequest:
    """A SnapshotRequest as the jobs make one: a private snapshot folder, a run, and that
    run's scratch folder under tmp_path/tmp."""
    run = start_run(tmp_path / "run")
    target = private_dir(folder or tmp_path / "snaps" / "notes", "snapshot folder")
    return SnapshotRequest(
        source="notes",
        source_path=db,
        folder=target,
        run=run,
        scratch=run.scratch(tmp_path / "tmp"),
        **kw,
    )  # type: ignore[arg-type]


def service_request(service: object, name: str, **kw: object) -> SnapshotRequest:
    """A SnapshotRequest for source `name` of a Service, as its backup job makes it."""
    workspace = service.workspace  # type: ignore[attr-defined]
    config = workspace.config()
    src = config.source(name)
    return SnapshotRequest(
        source=name,
        source_path=src.path,
        folder=workspace.source_folder(config, src),
        run=workspace.run,
        scratch=workspace.scratch(config),
        **kw,
    )  # type: ignore[arg-type]
