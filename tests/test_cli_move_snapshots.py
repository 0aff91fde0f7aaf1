"""`lifeboat source set NAME --dest DIR [--move]`: where the snapshots go, and what
becomes of the ones a source has."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers.databases import content_digest, make_db


def backups(cli, name: str, db: Path, count: int) -> list[str]:
    ids = []
    for round_ in range(count):
        make_db(db, rows=50, seed=round_ + 1)  # more rows each time: a new snapshot
        done = cli("backup", name, "--json")
        assert done.code == 0, done.err
        ids.append(json.loads(done.out)["id"])
    return ids


def test_move_takes_every_snapshot_along_and_leaves_no_old_folder(
    cli, db: Path, home: Path, tmp_path: Path
):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    ids = backups(cli, "notes", db, 3)
    old = home / "snapshots" / "notes"
    old_names = sorted(p.name for p in old.iterdir() if not p.name.startswith("."))
    dest = tmp_path / "other disk"

    done = cli("source", "set", "notes", "--dest", str(dest), "--move")

    assert done.code == 0, done.err
    assert f"moved 3 snapshot(s) of notes to {dest / 'notes'}" in done.out
    assert not old.exists()
    new = dest / "notes"
    assert sorted(p.name for p in new.iterdir() if not p.name.startswith(".")) == old_names
    assert not [p for p in new.iterdir() if p.name.startswith(".lb-")]
    assert os.stat(new).st_mode & 0o777 == 0o700
    listed = json.loads(cli("snapshots", "notes", "--json").out)
    assert sorted(s["id"] for s in listed) == sorted(ids)
    assert cli("verify", "--all").code == 0
    restored = tmp_path / "restored.db"
    assert cli("restore", ids[0], "--to", str(restored)).code == 0
    sources = json.loads(cli("source", "list", "--json").out)
    assert sources[0]["dest"] == str(new)
    # The next backup goes to the new folder, as a differential on the moved base.
    later = backups(cli, "notes", db, 1)
    assert (new / next(p.name for p in new.glob(f"*{later[0]}.json"))).exists()


def test_dest_without_move_says_the_old_snapshots_stay(cli, db: Path, home: Path, tmp_path: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    backups(cli, "notes", db, 2)

    done = cli("source", "set", "notes", "--dest", str(tmp_path / "elsewhere"))

    assert done.code == 0, done.err
    old = home / "snapshots" / "notes"
    assert f"the 2 snapshot(s) it has stay in {old}, still listed and restorable" in done.out
    assert "--move" in done.out
    assert len(json.loads(cli("snapshots", "notes", "--json").out)) == 2
    assert len(list(old.glob("*.json"))) == 2


def test_move_without_dest_is_bad_input(cli, db: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    done = cli("source", "set", "notes", "--move")
    assert done.code == 2
    assert "--move needs --dest" in done.err


def test_a_different_file_in_the_new_folder_stops_the_move_before_anything(
    cli, db: Path, home: Path, tmp_path: Path
):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    backups(cli, "notes", db, 1)
    old = home / "snapshots" / "notes"
    manifest = next(old.glob("*.json"))
    new = tmp_path / "dest" / "notes"
    new.mkdir(parents=True)
    (new / manifest.name).write_text("{}")
    before = content_digest(db)

    done = cli("source", "set", "notes", "--dest", str(tmp_path / "dest"), "--move")

    assert done.code == 1
    assert "already holds a different" in done.err and "nothing was moved" in done.err
    assert (new / manifest.name).read_text() == "{}"
    assert sorted(p.name for p in new.iterdir()) in (
        [manifest.name],
        sorted([manifest.name, ".lifeboat.lock"]),
    )
    assert json.loads(cli("source", "list", "--json").out)[0]["dest"] == str(old)
    assert cli("verify", "--all").code == 0
    assert content_digest(db) == before


def test_a_move_waits_until_the_rest_of_the_command_is_good(
    cli, db: Path, home: Path, tmp_path: Path
):
    """A move is not undone: with another option wrong, nothing moves and nothing
    changes, and the error says which option."""
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    backups(cli, "notes", db, 2)
    old = home / "snapshots" / "notes"
    before = sorted(p.name for p in old.iterdir())
    dest = tmp_path / "other disk"

    refused = cli("source", "set", "notes", "--dest", str(dest), "--move", "--keep", "bogus")

    assert refused.code == 2 and "keep" in refused.err and "Traceback" not in refused.err
    assert sorted(p.name for p in old.iterdir()) == before
    assert not (dest / "notes").exists()
    listed = json.loads(cli("source", "list", "--json").out)
    assert [s["dest"] for s in listed if s["name"] == "notes"] == [str(old)]
