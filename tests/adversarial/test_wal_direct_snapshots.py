"""Full snapshots of a WAL database packed straight from its file (no copy made,
core/wal_direct.py): a kill -9 at any moment leaves nothing behind after the next start
and the database as it was; a disk that fills up while the artifact is written is said
as such and leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.errors import OperationFailed
from tests.adversarial.conftest import fill_disk, lifeboat
from tests.adversarial.test_work_files import add, assert_nothing_left, kill_at_random
from tests.core.test_wal_direct import checkpointed_wal_db
from tests.helpers.databases import content_digest
from tests.helpers.workfiles import files_under, snapshot_request


def test_killed_direct_full_backups_leave_nothing(ahome: Path, open_base: Path):
    db = checkpointed_wal_db(open_base / "big.db", rows=40_000)
    before = content_digest(db)
    add(ahome, db, "notes", "--schedule", "manual")
    killed = kill_at_random(ahome, ["backup", "notes", "--full", "--json"], kills=5, seed=23)
    assert killed == 5
    assert_nothing_left(ahome, open_base)
    assert content_digest(db) == before
    done = lifeboat(ahome, "backup", "notes", "--full", "--json")
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)
    folder = Path(snap["path"]).parent
    manifest = json.loads((folder / (Path(snap["path"]).name.split(".")[0] + ".json")).read_text())
    assert manifest["copy_strategy"] == "wal-converge"
    out = open_base / "restored.db"
    assert lifeboat(ahome, "restore", snap["id"], "--to", str(out)).returncode == 0
    assert content_digest(out) == before
    assert lifeboat(ahome, "verify", "--all").returncode == 0


def test_a_disk_filling_up_while_the_artifact_is_written_leaves_nothing(
    open_base: Path, small_disk
):
    db = checkpointed_wal_db(open_base / "notes.db", rows=20_000)  # ~14 MB
    before = content_digest(db)
    disk = small_disk(48)  # room for the snapshot when it starts
    filled: list[Path] = []

    def fill_once_compressing(phase: str, done: int, total: int) -> None:
        if phase == "compress" and not filled:
            filled.append(fill_disk(disk))

    request = snapshot_request(open_base, db, folder=disk / "snaps" / "notes")
    with pytest.raises(OperationFailed) as err:
        take_snapshot(request, progress=fill_once_compressing)
    assert filled and "full" in err.value.message, err.value.message
    for leftover in filled:
        leftover.unlink()
    assert files_under(disk / "snaps") == []
    assert files_under(open_base / "tmp") == []
    assert content_digest(db) == before
