"""kill -9 at random moments of an in-place restore: the target is always whole."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from lifeboat.core.manifest import read_manifest
from tests.conftest import cli_process
from tests.helpers.databases import content_digest, integrity, make_db
from tests.helpers.killing import kill_during_work, time_work


def pre_restore_snapshots(folder: Path) -> set[str]:
    found = set()
    for path in folder.glob("*.json"):
        manifest = read_manifest(path)
        if manifest.reason == "pre-restore" and manifest.protected:
            found.add(manifest.id)
    return found


def reset(target: Path, pristine: Path, wal: bool) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, target)
    conn = sqlite3.connect(target)
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.close()


@pytest.mark.parametrize(("wal", "kills"), [(True, 12), (False, 8)], ids=["wal", "rollback"])
def test_kill_9_during_in_place_restore(home: Path, tmp_path: Path, wal: bool, kills: int):
    db = make_db(tmp_path / "notes.db", rows=20_000, payload=800, wal=wal)
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    snap = json.loads(cli_process(home, "backup", "notes", "--json").stdout)
    new = content_digest(db)
    conn = sqlite3.connect(db)
    conn.execute("update items set name = 'old-' || id, payload = randomblob(800)")
    conn.execute("create table later(x)")
    conn.commit()
    conn.close()
    old = content_digest(db)
    pristine = tmp_path / "pristine.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(pristine)
    src.backup(dst)
    dst.execute("pragma journal_mode=delete")
    src.close()
    dst.close()
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    command = [sys.executable, "-m", "lifeboat", "restore", snap["id"], "--yes"]
    work_s = time_work(home, command, env)
    assert content_digest(db) == new
    folder = home / "snapshots" / "notes"
    outcomes = {"old": 0, "new": 0}

    def before_each() -> None:
        reset(db, pristine, wal)
        assert content_digest(db) == old

    def after_each(killed: bool) -> None:
        assert integrity(db) == "ok"
        state = content_digest(db)
        assert state in (old, new), "the target holds a mix of old and new content"
        if state == new:
            outcomes["new"] += 1
            # a new safety snapshot, or the one an earlier interrupted restore of this
            # same content left (reused rather than taken again)
            assert pre_restore_snapshots(folder), (
                "restored without a protected pre-restore snapshot"
            )
        else:
            assert killed, "a restore that ran to its end left the old content"
            outcomes["old"] += 1

    # Each kill lands in the restore's own work, after start-up.
    killed = kill_during_work(
        home,
        command,
        env,
        kills=kills,
        work_s=work_s,
        seed=11,
        before_each=before_each,
        after_each=after_each,
    )
    assert len(killed) == kills
    assert outcomes["old"] >= 1, outcomes
    assert len(pre_restore_snapshots(folder)) <= 2, "identical safety snapshots piled up"
    rebuilt = cli_process(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert cli_process(home, "verify", "--all").returncode == 0
