"""Rules 3 and 4: what Lifeboat writes, only its user can read; an in-place restore keeps
the database's identity (owner, group, mode, extended attributes), and a live path that
became a link is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.adversarial.conftest import (
    as_other_user,
    give_to_other_user,
    lifeboat,
    modes_wider_than_private,
)
from tests.helpers.databases import content_digest, make_db


def add(home: Path, db: Path, *extra: str) -> None:
    done = lifeboat(home, "source", "add", str(db), "--name", "notes", *extra)
    assert done.returncode == 0, done.stderr


def test_everything_lifeboat_writes_is_private_whatever_the_umask(ahome: Path, open_base: Path):
    db = make_db(open_base / "notes.db", rows=400)
    os.chmod(db, 0o644)
    dest = open_base / "chosen" / "backups"  # a --dest folder Lifeboat creates
    for command in (
        ["source", "add", str(db), "--name", "notes"],
        [
            "source",
            "add",
            str(make_db(open_base / "two.db", rows=50)),
            "--name",
            "two",
            "--dest",
            str(dest),
        ],
        ["backup", "notes"],
        ["backup", "two"],
        ["backup", "notes"],
        ["verify", "--all"],
        ["prune", "notes"],
        ["drill", "notes"],
        ["catalog", "rebuild"],
    ):
        done = lifeboat(ahome, *command, umask=0)
        assert done.returncode == 0, (command, done.stderr)
    assert modes_wider_than_private(ahome) == []
    assert modes_wider_than_private(dest.parent / "backups") == []
    assert stat.S_IMODE(os.stat(dest.parent).st_mode) == 0o700, "a folder it created"


def test_another_local_user_reads_nothing(ahome: Path, open_base: Path):
    db = make_db(open_base / "notes.db", rows=400)
    os.chmod(db, 0o600)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json", umask=0).stdout)
    targets = [
        Path(snap["path"]),
        ahome / "catalog.sqlite",
        ahome / "config.toml",
        ahome / "logs" / "lifeboat.log",
        Path(snap["path"]).with_name(Path(snap["path"]).name.replace(".sqlite.zst", ".json")),
    ]
    for target in targets:
        assert target.exists(), target
        read = as_other_user("cat", str(target))
        assert read.returncode != 0 and "Permission denied" in read.stderr, target
    listing = as_other_user("ls", str(ahome / "snapshots" / "notes"))
    assert listing.returncode != 0


def test_restore_to_a_new_file_takes_the_source_databases_mode(ahome: Path, open_base: Path):
    db = make_db(open_base / "notes.db", rows=100)
    os.chmod(db, 0o640)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    out = open_base / "copy.db"
    assert lifeboat(ahome, "restore", snap["id"], "--to", str(out), umask=0).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


def owned_by_other_user(open_base: Path, *, page_size: int = 4096) -> Path:
    folder = open_base / "app-data"
    folder.mkdir()
    db = make_db(folder / "notes.db", rows=600, page_size=page_size)
    for path in (folder, db):
        give_to_other_user(path)
    os.chmod(db, 0o600)
    os.chmod(folder, 0o700)
    return db


def identity(path: Path) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def app_writes(db: Path) -> None:
    """The application (running as the database's owner) can still write to it."""
    done = as_other_user("sqlite3", str(db), "insert into items(name) values ('after')")
    assert done.returncode == 0, done.stderr


def test_in_place_restore_keeps_owner_and_mode(ahome: Path, open_base: Path):
    db = owned_by_other_user(open_base)
    before = identity(db)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    app_writes(db)
    done = lifeboat(ahome, "restore", snap["id"], "--yes", umask=0o022)
    assert done.returncode == 0, done.stderr
    assert identity(db) == before
    app_writes(db)


def test_a_restore_that_replaces_the_file_keeps_its_identity_and_leaves_no_sidecars(
    ahome: Path, open_base: Path
):
    db = owned_by_other_user(open_base, page_size=4096)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    expected = content_digest(db)
    os.setxattr(db, "user.lifeboat-test", b"kept")
    # The page size changes under WAL: the backup API cannot write into it any more, so
    # the restore must replace the file itself.
    done = as_other_user(
        "sqlite3",
        str(db),
        "pragma journal_mode=delete; pragma page_size=8192; vacuum; pragma journal_mode=wal;",
    )
    assert done.returncode == 0, done.stderr
    before = identity(db)
    done = lifeboat(ahome, "restore", snap["id"], "--yes", "--json", umask=0o022)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["method"] == "file-replace"
    assert identity(db) == before
    assert os.getxattr(db, "user.lifeboat-test") == b"kept"
    assert content_digest(db) == expected
    app_writes(db)
    left = [
        p.name
        for p in db.parent.iterdir()
        if p.name not in (db.name, f"{db.name}-wal", f"{db.name}-shm")
    ]
    assert left == [], "files left beside the database"


def test_a_live_path_that_became_a_link_is_refused(ahome: Path, open_base: Path):
    db = make_db(open_base / "notes.db", rows=200)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    other = make_db(open_base / "other.db", rows=10, seed=7)
    digest = content_digest(other)
    db.rename(open_base / "moved.db")
    db.symlink_to(other)
    for command in (["backup", "notes"], ["restore", snap["id"], "--yes"]):
        done = lifeboat(ahome, *command)
        assert done.returncode == 2, done.stderr
        assert "symbolic link" in done.stderr and "Traceback" not in done.stderr
    assert content_digest(other) == digest, "the link was followed"
    assert db.is_symlink()


def test_adding_a_link_adds_the_real_file(ahome: Path, open_base: Path):
    real = make_db(open_base / "real.db", rows=20)
    link = open_base / "link.db"
    link.symlink_to(real)
    done = lifeboat(ahome, "source", "add", str(link), "--name", "notes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == str(real)


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_restore_to_keeps_a_mode_it_recorded_even_under_a_wide_umask(
    ahome: Path, open_base: Path, mode: int
):
    db = make_db(open_base / "notes.db", rows=20)
    os.chmod(db, mode)
    add(ahome, db)
    snap = json.loads(lifeboat(ahome, "backup", "notes", "--json").stdout)
    out = open_base / "out.db"
    assert lifeboat(ahome, "restore", snap["id"], "--to", str(out), umask=0).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == mode
    conn = sqlite3.connect(out)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()
