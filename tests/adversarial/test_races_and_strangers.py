"""Attacks found by a hostile review: a damaged base behind the newest snapshot, a sweep
in a shared temp folder, a rebuild racing a backup or a prune, two installations sharing
a folder, a manifest naming another snapshot's file, a folder made by another user, a
disk unmounted while an interrupted run's work is on it, links where the catalog and
the pid file go.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.adversarial.conftest import as_other_user, lifeboat, require_root
from tests.helpers.databases import content_digest, make_db


def run_ok(home: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    done = lifeboat(home, *args, **kw)
    assert done.returncode == 0, (args, done.stderr)
    return done


def snap(home: Path, name: str, *extra: str) -> dict:
    return json.loads(run_ok(home, "backup", name, "--json", *extra).stdout)


def grow(db: Path, rows: int = 40) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "insert into items(name, payload) values (?, randomblob(200))",
        [(f"g{i}",) for i in range(rows)],
    )
    conn.commit()
    conn.close()


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", *args],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_snapshot_whose_base_is_damaged_never_stands_in_for_the_safety_copy(
    ahome: Path, open_base: Path
):
    db = make_db(open_base / "c.db", rows=300)
    run_ok(ahome, "source", "add", str(db), "--name", "c")
    first = snap(ahome, "c", "--full")
    grow(db)
    base = snap(ahome, "c", "--full")
    grow(db)
    diff = snap(ahome, "c")  # holds exactly what the live database holds now
    assert diff["kind"] == "diff" and diff["base"] == base["id"]
    live = content_digest(db)
    flip(Path(base["path"]))  # the base is damaged (nobody verified it yet)
    done = run_ok(ahome, "restore", first["id"], "--yes", "--json")
    safety = json.loads(done.stdout)["safety_snapshot"]
    assert safety != diff["id"], "a snapshot that cannot be restored was taken as the copy"
    out = open_base / "kept.db"
    run_ok(ahome, "restore", safety, "--to", str(out))
    assert content_digest(out) == live, "what the restore replaced was not kept"


def test_a_shared_temp_folder_is_never_swept_of_other_files(ahome: Path, open_base: Path):
    require_root()
    shared = open_base / "shared-tmp"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    db = make_db(open_base / "n.db", rows=50)
    run_ok(ahome, "source", "add", str(db), "--name", "n")
    config = ahome / "config.toml"
    config.write_text(f'[general]\ntemp_dir = "{shared}"\n\n' + config.read_text())
    theirs = shared / "open-1234abcd-thesis"
    done = as_other_user(
        "sh",
        "-c",
        f"mkdir {theirs} && echo chapter > {theirs}/ch1.txt && "
        f"touch {shared}/restore-0badf00d-999999",
    )
    assert done.returncode == 0, done.stderr
    run_ok(ahome, "status")
    run_ok(ahome, "backup", "n")
    assert (theirs / "ch1.txt").read_text() == "chapter\n"
    assert (shared / "restore-0badf00d-999999").exists()


def test_a_rebuild_racing_a_backup_keeps_the_new_snapshot(ahome: Path, open_base: Path):
    db = make_db(open_base / "big.db", rows=30_000, payload=800)
    run_ok(ahome, "source", "add", str(db), "--name", "big")
    snap(ahome, "big")
    for delay in (0.2, 0.6, 1.0):
        grow(db)
        backup = start(ahome, "backup", "big", "--full", "--json")
        time.sleep(delay)
        run_ok(ahome, "catalog", "rebuild")
        out, err = backup.communicate(timeout=300)
        assert backup.returncode == 0, err
        taken = json.loads(out)["id"]
        ids = [r.get("id") for r in json.loads(run_ok(ahome, "snapshots", "--json").stdout)]
        assert taken in ids, f"a finished backup vanished (rebuild {delay} s after it began)"


def test_a_rebuild_racing_a_prune_never_brings_deleted_snapshots_back(ahome: Path, open_base: Path):
    db = make_db(open_base / "p.db", rows=2000)
    run_ok(ahome, "source", "add", str(db), "--name", "p")
    for _ in range(5):
        grow(db)
        snap(ahome, "p", "--full")
    run_ok(ahome, "source", "set", "p", "--keep", "last=2")
    rebuild = start(ahome, "catalog", "rebuild")
    time.sleep(0.1)
    run_ok(ahome, "prune", "p")
    assert rebuild.wait(timeout=120) == 0
    folder = ahome / "snapshots" / "p"
    on_disk = {p.name.split("-")[-1].split(".")[0] for p in folder.glob("*.json")}
    listed = {
        r["id"]
        for r in json.loads(run_ok(ahome, "snapshots", "--json").stdout)
        if r.get("status") == "ok"
    }
    assert listed == on_disk


def test_a_prune_waits_for_a_folder_held_for_a_moment_instead_of_failing(
    ahome: Path, open_base: Path
):
    db = make_db(open_base / "w.db", rows=500)
    run_ok(ahome, "source", "add", str(db), "--name", "w")
    for _ in range(3):
        grow(db)
        snap(ahome, "w", "--full")
    run_ok(ahome, "source", "set", "w", "--keep", "last=1")
    lock_file = ahome / "snapshots" / "w" / ".lifeboat.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from lifeboat.core.fsutil import FileLock; "
            "lock = FileLock(Path(sys.argv[1])); assert lock.try_acquire(); "
            "print('held', flush=True); time.sleep(1.5); lock.release()",
            str(lock_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    run_ok(ahome, "prune", "w")
    assert holder.wait(timeout=30) == 0
    assert len(json.loads(run_ok(ahome, "snapshots", "w", "--json").stdout)) == 1
    assert len(list((ahome / "snapshots" / "w").glob("*.json"))) == 1


def test_another_installations_work_in_a_shared_folder_is_left_alone(open_base: Path):
    dest = open_base / "shared-dest"
    homes = [open_base / "home7", open_base / "home8"]
    db = make_db(open_base / "big.db", rows=40_000, payload=1000)
    for home in homes:
        run_ok(home, "source", "add", str(db), "--name", "big", "--dest", str(dest))
    backup = start(homes[0], "backup", "big", "--json")
    deadline = time.monotonic() + 30
    while not [p for p in (dest / "big").glob(".lb-*")] and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(3):
        run_ok(homes[1], "catalog", "rebuild")
    _out, err = backup.communicate(timeout=300)
    assert backup.returncode == 0, f"the other installation broke this backup: {err}"


def test_a_manifest_naming_another_snapshots_file_never_steers_a_deletion(
    ahome: Path, open_base: Path
):
    db = make_db(open_base / "e.db", rows=100)
    run_ok(ahome, "source", "add", str(db), "--name", "e")
    snaps = []
    for _ in range(3):
        grow(db)
        snaps.append(snap(ahome, "e", "--full"))
    oldest, newest = Path(snaps[0]["path"]), Path(snaps[-1]["path"])
    manifest = oldest.with_name(oldest.name.replace(".sqlite.zst", ".json"))
    edited = json.loads(manifest.read_text())
    edited["artifact"] = newest.name
    edited["size"] = newest.stat().st_size
    manifest.write_text(json.dumps(edited))
    run_ok(ahome, "catalog", "rebuild")
    run_ok(ahome, "source", "set", "e", "--keep", "last=1")
    lifeboat(ahome, "prune", "e")
    assert newest.is_file(), "a kept snapshot's file was deleted through another manifest"
    assert run_ok(ahome, "verify", snaps[-1]["id"]).returncode == 0


def test_a_snapshot_folder_made_by_another_user_is_refused(ahome: Path, open_base: Path):
    require_root()
    shared = open_base / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    made = as_other_user("mkdir", "-m", "777", str(shared / "a"))
    assert made.returncode == 0, made.stderr
    db = make_db(open_base / "a.db", rows=20)
    done = lifeboat(ahome, "source", "add", str(db), "--name", "a", "--dest", str(shared))
    assert done.returncode == 2 and "belongs to another user" in done.stderr
    assert "Traceback" not in done.stderr
    assert list((shared / "a").iterdir()) == []


def test_work_on_a_disk_unmounted_meanwhile_is_removed_once_it_is_back(
    ahome: Path, open_base: Path
):
    require_root()
    db = make_db(open_base / "big.db", rows=40_000, payload=1000)
    run_ok(ahome, "source", "add", str(db), "--name", "big")
    record = snap(ahome, "big")
    disk, mount_point = open_base / "disk", open_base / "x"
    disk.mkdir()
    mount_point.mkdir()
    if subprocess.run(["mount", "--bind", str(disk), str(mount_point)]).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        restore = start(ahome, "restore", record["id"], "--to", str(mount_point / "out.db"))
        deadline = time.monotonic() + 30
        while not list(mount_point.glob(".lb-*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        restore.send_signal(signal.SIGKILL)
        restore.wait()
        assert list(mount_point.glob(".lb-*")), "the restore finished before it was killed"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)])
    run_ok(ahome, "status")  # the disk is away: its work is left for later
    assert list(disk.glob(".lb-*"))
    subprocess.run(["mount", "--bind", str(disk), str(mount_point)], check=True)
    try:
        run_ok(ahome, "status")
        assert not list(mount_point.glob(".lb-*")), "the interrupted restore's copy stayed"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)])


def test_links_where_the_catalog_and_the_pid_file_go_are_not_followed(ahome: Path, open_base: Path):
    db = make_db(open_base / "n.db", rows=20)
    run_ok(ahome, "source", "add", str(db), "--name", "n")
    victim = open_base / "victim"
    victim.write_text("precious")
    catalog = ahome / "catalog.sqlite"
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (ahome / name).unlink(missing_ok=True)
    catalog.symlink_to(victim)
    done = lifeboat(ahome, "snapshots")
    assert done.returncode == 2 and "symbolic link" in done.stderr
    assert victim.read_text() == "precious"
    catalog.unlink()
    pid = ahome / "run" / "scheduler.pid"
    pid.parent.mkdir(exist_ok=True)
    pid.symlink_to(victim)
    daemon = start(ahome, "run")
    try:
        deadline = time.monotonic() + 20
        while not (pid.exists() and not pid.is_symlink()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert victim.read_text() == "precious", "the pid was written through a link"
