"""Rules 2 and 7: work files are private, unique and never followed; a killed run leaves
nothing behind that outlives the next start, and nothing decrypted survives.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.adversarial.conftest import lifeboat
from tests.helpers.databases import change_db, content_digest, make_db
from tests.helpers.killing import kill_during_work, time_work
from tests.helpers.workfiles import files_under


def add(home: Path, db: Path, name: str, *extra: str) -> None:
    done = lifeboat(home, "source", "add", str(db), "--name", name, *extra)
    assert done.returncode == 0, done.stderr


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", *args],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def work_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".lb-"))


def test_sources_whose_names_are_prefixes_back_up_at_the_same_time(ahome: Path, open_base: Path):
    a = make_db(open_base / "a.db", rows=30_000, payload=600)
    ab = make_db(open_base / "ab.db", rows=30_000, payload=600, seed=1)
    add(ahome, a, "a")
    add(ahome, ab, "a-b")
    for _ in range(3):
        change_db(a), change_db(ab)  # each round has something new to store
        runs = [start(ahome, "backup", "a", "--json"), start(ahome, "backup", "a-b", "--json")]
        results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in runs]
        for code, out, err in results:
            assert code == 0, err
            assert "damaged" not in err and "damaged" not in out
    for name, db in (("a", a), ("a-b", ab)):
        snaps = [
            r
            for r in json.loads(lifeboat(ahome, "snapshots", name, "--json").stdout)
            if r.get("source") == name
        ]
        assert len(snaps) == 3
        out = open_base / f"restored-{name}.db"
        assert lifeboat(ahome, "restore", snaps[0]["id"], "--to", str(out)).returncode == 0
        assert content_digest(out) == content_digest(db)
    assert lifeboat(ahome, "verify", "--all").returncode == 0


def test_links_planted_at_every_name_lifeboat_used_to_write_are_never_followed(
    ahome: Path, open_base: Path
):
    db = make_db(open_base / "notes.db", rows=500)
    add(ahome, db, "notes")
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    victim = open_base / "victim.txt"
    victim.write_text("precious")
    folder = ahome / "snapshots" / "notes"
    out = open_base / "out.db"
    temp = ahome / "tmp"
    planted = [
        # the names earlier versions wrote to, in every folder Lifeboat writes in
        *(
            folder / f".{snap['path'].split('/')[-1].removesuffix('.sqlite.zst')}{s}.partial"
            for s in (".sqlite.zst", ".pages", ".json")
        ),
        temp / f"restore-{snap['id']}-{os.getpid()}.sqlite",
        temp / f"verify-{snap['id']}.sqlite",
        open_base / f".{out.name}.lifeboat-restore-{snap['id']}.tmp",
        open_base / f".{db.name}.lifeboat-restore.tmp",
        Path(f"{db}-wal.replaced-x"),
        ahome / ".config.toml.tmp",
    ]
    temp.mkdir(exist_ok=True)
    for link in planted:
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
    for command in (
        ["backup", "notes"],
        ["verify", "--all"],
        ["restore", snap["id"], "--yes"],
        ["restore", snap["id"], "--to", str(out)],
        ["catalog", "rebuild"],
        ["source", "set", "notes", "--keep", "last=5"],
        ["drill", "notes"],
        ["diff", snap["id"]],
    ):
        done = lifeboat(ahome, *command)
        assert done.returncode == 0, (command, done.stderr)
        assert victim.read_text() == "precious", f"{command} wrote through a planted link"
    assert content_digest(out) == content_digest(db)


def test_a_snapshot_folder_that_is_a_link_is_refused(ahome: Path, open_base: Path):
    db = make_db(open_base / "notes.db", rows=100)
    add(ahome, db, "notes")
    folder = ahome / "snapshots" / "notes"
    elsewhere = open_base / "elsewhere"
    elsewhere.mkdir()
    folder.rmdir()
    folder.symlink_to(elsewhere)
    done = lifeboat(ahome, "backup", "notes")
    assert done.returncode == 2 and "symbolic link" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(elsewhere.iterdir()) == []


def test_very_long_names_work(ahome: Path, open_base: Path):
    name = "d" * 240 + ".db"  # 243 characters: the longest legal name here is 255
    db = make_db(open_base / name, rows=200)
    add(ahome, db, "long")
    snap = json.loads(lifeboat(ahome, "backup", "long", "--json").stdout)
    target = open_base / ("r" * 227 + ".db")  # 230 characters
    done = lifeboat(ahome, "restore", snap["id"], "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert content_digest(target) == content_digest(db)
    conn = sqlite3.connect(db)
    conn.execute("delete from items where id % 2 = 0")
    conn.commit()
    conn.close()
    done = lifeboat(ahome, "restore", snap["id"], "--yes")
    assert done.returncode == 0, done.stderr
    assert content_digest(db) == content_digest(target)


def big_source(home: Path, base: Path, *extra: str) -> Path:
    db = make_db(base / "big.db", rows=40_000, payload=1000)
    add(home, db, "notes", *extra)
    return db


def kill_at_random(home: Path, args: list[str], kills: int, seed: int) -> int:
    """Run `lifeboat ARGS` to its end once, then until it was killed with SIGKILL `kills`
    times at random moments of its work (after start-up: see tests/helpers/killing.py);
    return how many were killed before they finished."""
    command = [sys.executable, "-m", "lifeboat", *args]
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    work_s = time_work(home, command, env)
    return len(kill_during_work(home, command, env, kills=kills, work_s=work_s, seed=seed))


def assert_nothing_left(home: Path, db_folder: Path) -> None:
    """After the next start of any command: no scratch file, no work file anywhere."""
    assert lifeboat(home, "status").returncode == 0
    assert files_under(home / "tmp") == []
    assert work_files(db_folder) == []
    assert work_files(home / "snapshots" / "notes") == []
    runs = home / "run" / "runs"
    assert not [p for p in runs.iterdir() if p.suffix == ".places"]
    jobs = json.loads(lifeboat(home, "jobs", "--json", "--limit", "200").stdout)
    assert not [j for j in jobs if j["status"] in ("running", "queued")]


def test_killed_in_place_restores_leave_nothing(ahome: Path, open_base: Path):
    big_source(ahome, open_base)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    killed = kill_at_random(ahome, ["restore", snap["id"], "--yes"], kills=6, seed=3)
    assert killed == 6
    assert_nothing_left(ahome, open_base)
    jobs = json.loads(lifeboat(ahome, "jobs", "--json", "--limit", "50").stdout)
    # (a kill before the job was recorded leaves no job at all)
    assert any(j["status"] == "interrupted" for j in jobs)


def test_killed_backups_leave_nothing(ahome: Path, open_base: Path):
    big_source(ahome, open_base)
    killed = kill_at_random(ahome, ["backup", "notes"], kills=6, seed=5)
    assert killed == 6
    assert_nothing_left(ahome, open_base)
    assert lifeboat(ahome, "verify", "--all").returncode == 0


def test_killed_verify_of_an_encrypted_source_leaves_nothing_decrypted(
    ahome: Path, open_base: Path, file_keyring: Path
):
    assert lifeboat(ahome, "key", "init").returncode == 0
    big_source(ahome, open_base, "--encrypt-local")
    assert lifeboat(ahome, "backup", "notes").returncode == 0
    killed = kill_at_random(ahome, ["verify", "--all"], kills=6, seed=9)
    assert killed == 6
    assert_nothing_left(ahome, open_base)
    for path in (
        p for p in ahome.rglob("*") if p.is_file() and not p.name.startswith("catalog.sqlite")
    ):
        head = path.read_bytes()[:16]
        assert not head.startswith(b"SQLite format 3"), f"plaintext database left: {path}"
        assert not head.startswith(b"\x28\xb5\x2f\xfd"), f"plaintext artifact left: {path}"


def test_a_run_that_ended_normally_is_not_reported_as_interrupted(ahome: Path, open_base: Path):
    """A run that used its scratch folder ends with it empty: the next start removes it
    without a word; what a run really left in it is removed and said."""
    db = make_db(open_base / "n.db", rows=2_000)
    add(ahome, db, "n")
    assert lifeboat(ahome, "backup", "n").returncode == 0
    snap = json.loads(lifeboat(ahome, "snapshots", "n", "--json").stdout)[0]["id"]
    temp = ahome / "tmp"
    merge = ("restore", "n", "--from", snap, "--table", "items", "--yes")
    assert lifeboat(ahome, *merge).returncode == 0  # its past is a scratch file
    left = [p for p in temp.iterdir() if p.is_dir()]
    assert left and all(not any(p.iterdir()) for p in left)  # the ended run's, empty
    log = ahome / "logs" / "lifeboat.log"
    before = log.read_text()
    assert lifeboat(ahome, "status").returncode == 0
    said = log.read_text()[len(before) :]
    assert not any(p.exists() for p in left)
    assert "interrupted run left" not in said
    # what a run really left behind is removed and said
    assert lifeboat(ahome, *merge).returncode == 0
    ended = [p for p in temp.iterdir() if p.is_dir()]
    (ended[0] / "piece").write_bytes(b"x")
    assert lifeboat(ahome, "status").returncode == 0
    assert not ended[0].exists()
    assert f"interrupted run left: {ended[0]}" in log.read_text()


def test_killed_restores_of_a_differential_leave_nothing(ahome: Path, open_base: Path):
    """A differential rebuilt on its base's frames (a pool of threads writing into the
    run's scratch, then the in-place write) killed at random: nothing outlives the next
    start, and the database is whole, as it was or as the snapshot holds it."""
    db = big_source(ahome, open_base)
    assert lifeboat(ahome, "backup", "notes").returncode == 0
    change_db(db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    assert snap["kind"] == "diff", snap
    change_db(db)  # so each restore has something to write
    killed = kill_at_random(ahome, ["restore", snap["id"], "--yes"], kills=4, seed=8)
    assert killed == 4
    assert_nothing_left(ahome, open_base)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
