"""A capture setup for the history tests: a run, a snapshot folder, a base-taker."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import chain_of, list_segments
from lifeboat.core.history.follower import Follower
from lifeboat.core.history.points import Point, rebuild_point, resolve_point
from lifeboat.core.manifest import read_manifest
from lifeboat.core.private import private_dir
from lifeboat.core.runs import Run, start_run
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import SnapshotRequest

SOURCE = "notes"


@dataclass
class Capture:
    root: Path
    db: Path
    folder: Path
    run: Run
    scratch: Path

    def take_base(self) -> BaseRef:
        """A base as the follower's host takes one (reason "continuous": with its page
        owners, core/history/owners_file.py)."""
        request = SnapshotRequest(
            SOURCE, self.db, self.folder, self.run, self.scratch, reason="continuous"
        )
        return BaseRef(take_snapshot(request), self.folder)

    def open_base(self, snapshot_id: str) -> BaseRef | None:
        for path in self.folder.glob(f"{SOURCE}-*-{snapshot_id}.json"):
            return BaseRef(read_manifest(path), self.folder)
        return None

    def follower(self, **kwargs: object) -> Follower:
        """A follower that writes each poll's commits at once (`write_every_s=0`), unless
        told otherwise."""
        kwargs.setdefault("write_every_s", 0.0)
        return Follower(
            SOURCE,
            self.db,
            self.folder,
            self.run,
            self.scratch,
            self.take_base,
            self.open_base,
            **kwargs,  # type: ignore[arg-type]
        )

    def chain(self, base_id: str):  # type: ignore[no-untyped-def]
        return chain_of(list_segments(self.folder, SOURCE).segments, base_id)

    def point(self, base_id: str, at_us: int) -> Point | None:
        base = self.open_base(base_id)
        assert base is not None
        return resolve_point(base, self.chain(base_id), at_us)

    def restore(self, base_id: str, at_us: int, name: str) -> Path:
        point = self.point(base_id, at_us)
        assert point is not None
        dest = self.root / name
        rebuild_point(point, dest, self.run, self.scratch)
        return dest


def make_capture(root: Path, db: Path) -> Capture:
    run = start_run(root / "run")
    folder = private_dir(root / "snapshots" / SOURCE, "snapshot folder")
    scratch = run.scratch(root / "temp")
    return Capture(root, db, folder, run, scratch)


def rows(path: Path, table: str = "items") -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"select * from {table} order by rowid").fetchall()
    finally:
        conn.close()
