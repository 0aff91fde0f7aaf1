"""Moving a source's snapshots to another folder (`source set NAME --dest DIR --move`):
a kill -9 at any moment leaves every snapshot usable in one of the two places and the
catalog rebuildable; a full disk moves nothing and says so."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.adversarial.conftest import lifeboat, require_root
from tests.helpers.databases import make_db
from tests.helpers.killing import kill_during_work, time_work


def ok(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = lifeboat(home, *args)
    assert done.returncode == 0, done.stderr
    return done


def source_with_snapshots(home: Path, base: Path, rounds: int, rows: int) -> tuple[Path, set[str]]:
    db = base / "notes.db"
    make_db(db, rows=rows, payload=1000)
    ok(home, "source", "add", str(db), "--name", "notes")
    ids = set()
    for round_ in range(rounds):
        make_db(db, rows=rows // 10, payload=1000, seed=round_ + 1)
        ids.add(json.loads(ok(home, "backup", "notes", "--json").stdout)["id"])
    return db, ids


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def usable_in(folder: Path, snap_id: str) -> bool:
    """The snapshot's manifest and its files are in `folder`, each as its manifest says
    (checked here, without Lifeboat)."""
    manifests = list(folder.glob(f"notes-*-{snap_id}.json")) if folder.is_dir() else []
    if not manifests:
        return False
    manifest = json.loads(manifests[0].read_bytes())
    artifact = folder / manifest["artifact"]
    if not artifact.is_file() or sha(artifact) != manifest["sha256"]:
        return False
    pages = artifact.with_name(manifest["artifact"].split(".")[0] + ".pages")
    return manifest.get("pages_sha256") is None or sha(pages) == manifest["pages_sha256"]


def dest_of(home: Path) -> str:
    return json.loads(ok(home, "source", "list", "--json").stdout)[0]["dest"]


def test_a_move_killed_at_any_moment_leaves_every_snapshot_usable(ahome: Path, open_base: Path):
    _, ids = source_with_snapshots(ahome, open_base, rounds=4, rows=12_000)
    here, there = ahome / "snapshots", open_base / "other-disk"
    command = [sys.executable, "-m", "lifeboat", "source", "set", "notes", "--dest", str(there)]
    command.append("--move")
    env = {**os.environ, "LIFEBOAT_HOME": str(ahome)}
    work_s = time_work(ahome, command, env)
    assert dest_of(ahome) == str(there / "notes")

    def move_back() -> None:
        ok(ahome, "source", "set", "notes", "--dest", str(here), "--move")
        assert dest_of(ahome) == str(here / "notes")
        assert all(usable_in(here / "notes", i) for i in ids)

    def check(killed: bool) -> None:
        for snap_id in ids:
            assert usable_in(here / "notes", snap_id) or usable_in(there / "notes", snap_id), (
                f"snapshot {snap_id} is usable in neither folder"
            )
        ok(ahome, "catalog", "rebuild")
        listed = json.loads(ok(ahome, "snapshots", "notes", "--json").stdout)
        assert {s["id"] for s in listed} == ids
        ok(ahome, "verify", "--all")

    killed = kill_during_work(
        ahome,
        command,
        env,
        kills=6,
        work_s=work_s,
        seed=19,
        before_each=move_back,
        after_each=check,
    )
    assert len(killed) == 6
    # Finished at last: everything in the new place, nothing left of the old or the work.
    move_back()
    ok(ahome, "source", "set", "notes", "--dest", str(there), "--move")
    assert not (here / "notes").exists()
    assert not [p for p in (there / "notes").iterdir() if p.name.startswith(".lb-")]
    assert all(usable_in(there / "notes", i) for i in ids)
    ok(ahome, "verify", "--all")


def test_a_disk_too_small_moves_nothing(ahome: Path, open_base: Path, small_disk):
    _, ids = source_with_snapshots(ahome, open_base, rounds=2, rows=3000)
    disk = small_disk(1)

    done = lifeboat(ahome, "source", "set", "notes", "--dest", str(disk), "--move")

    assert done.returncode == 1
    assert "not enough free space" in done.stderr and "nothing was moved" in done.stderr
    assert "Traceback" not in done.stderr
    assert dest_of(ahome) == str(ahome / "snapshots" / "notes")
    assert all(usable_in(ahome / "snapshots" / "notes", i) for i in ids)
    ok(ahome, "verify", "--all")


def test_a_disk_that_fills_during_the_move_moves_nothing_and_leaves_no_work(
    ahome: Path, open_base: Path
):
    require_root()
    _, ids = source_with_snapshots(ahome, open_base, rounds=3, rows=1000)
    disk = open_base / "few-files"
    disk.mkdir()
    # Space enough, but room for only a few files: the copy runs out half way (ENOSPC).
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=7,mode=0755", "tmpfs", str(disk)]
    assert subprocess.run(mount, capture_output=True).returncode == 0
    try:
        done = lifeboat(ahome, "source", "set", "notes", "--dest", str(disk), "--move")

        assert done.returncode == 1, done.stdout
        assert "is full; nothing was moved" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert dest_of(ahome) == str(ahome / "snapshots" / "notes")
        assert all(usable_in(ahome / "snapshots" / "notes", i) for i in ids)
        assert not [p for p in (disk / "notes").iterdir() if p.name.startswith(".lb-")]
        ok(ahome, "verify", "--all")
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
