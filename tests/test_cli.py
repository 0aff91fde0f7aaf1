"""The command line as a user meets it: real files, real processes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

import pytest

from lifeboat.core.manifest import read_manifest
from tests.conftest import cli_process
from tests.helpers.databases import change_db, make_db
from tests.helpers.killing import kill_during_work, time_work
from tests.helpers.workfiles import files_under

SNAPSHOT_KEYS = {
    "id",
    "source",
    "created_at",
    "path",
    "size",
    "db_size",
    "sha256",
    "protected",
    "reason",
    "status",
}


def test_first_use_add_backup_list_verify(cli, db: Path, home: Path):
    added = cli("source", "add", str(db), "--json")
    assert added.code == 0, added.err
    assert json.loads(added.out)["name"] == "notes"
    taken = cli("backup", "notes", "--json")
    assert taken.code == 0, taken.err
    record = json.loads(taken.out)
    assert SNAPSHOT_KEYS <= set(record)
    assert record["created_at"].endswith("Z") and record["status"] == "ok"
    assert Path(record["path"]).is_file()
    listed = cli("snapshots", "--json")
    assert [r["id"] for r in json.loads(listed.out)] == [record["id"]]
    text = cli("snapshots")
    assert record["id"] in text.out and "SOURCE" in text.out
    assert cli("verify", record["id"]).code == 0
    assert cli("verify", "--all", "--json").code == 0


def test_backup_all_and_newest_first(cli, tmp_path: Path):
    for name in ("a", "b"):
        make_db(tmp_path / f"{name}.db", rows=20)
        assert cli("source", "add", str(tmp_path / f"{name}.db")).code == 0
    assert cli("backup", "--all").code == 0
    time.sleep(0.01)  # snapshots are dated to the millisecond
    change_db(tmp_path / "a.db")  # else the backup stores nothing new
    assert cli("backup", "a").code == 0
    records = json.loads(cli("snapshots", "--json").out)
    assert [r["source"] for r in records] == ["a", "b", "a"]
    assert [r["source"] for r in json.loads(cli("snapshots", "a", "--json").out)] == ["a", "a"]


@pytest.mark.parametrize("seed", range(6))
def test_flipped_byte_anywhere_fails_verify(cli, db: Path, seed: int):
    cli("source", "add", str(db))
    record = json.loads(cli("backup", "notes", "--json").out)
    artifact = Path(record["path"])
    data = bytearray(artifact.read_bytes())
    position = random.Random(seed).randrange(len(data))
    data[position] ^= 1 << random.Random(seed).randrange(8)
    artifact.write_bytes(bytes(data))
    result = cli("verify", record["id"])
    assert result.code == 1
    assert f"CORRUPT  {record['id']}" in result.out
    assert "Traceback" not in result.err
    status = json.loads(cli("snapshots", "--json").out)[0]["status"]
    assert status == "corrupt"


def test_missing_artifact_fails_verify(cli, db: Path):
    cli("source", "add", str(db))
    record = json.loads(cli("backup", "notes", "--json").out)
    Path(record["path"]).unlink()
    result = cli("verify", "--json")
    assert result.code == 1
    assert json.loads(result.out)[0]["status"] == "missing"


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp_path / "notes.txt"
    text.write_text("just some text\n" * 20)
    empty = tmp_path / "empty.db"
    empty.touch()
    garbage = tmp_path / "secret.db"
    garbage.write_bytes(random.Random(1).randbytes(8192))
    afile = tmp_path / "afile"
    afile.write_text("x")
    good = make_db(tmp_path / "good.db", rows=5)
    return {
        "missing file": (["source", "add", str(tmp_path / "nope.db")], "no such file"),
        "directory": (["source", "add", str(tmp_path)], "is a folder"),
        "text file": (["source", "add", str(text)], "not a SQLite database"),
        "zero-byte file": (["source", "add", str(empty)], "empty (0 bytes)"),
        "encrypted or garbage": (["source", "add", str(garbage)], "not a SQLite database"),
        "unwritable destination": (
            ["source", "add", str(good), "--dest", str(afile / "sub")],
            "cannot create",
        ),
        "bad schedule": (["source", "add", str(good), "--schedule", "dayly 3"], "unknown schedule"),
        "bad keep": (["source", "add", str(good), "--keep", "last=seven"], "whole number"),
        "bad name": (["source", "add", str(good), "--name", "../etc"], "not a usable name"),
        "bad check": (["source", "add", str(good), "--check", "slow"], "invalid choice"),
        "unknown source": (["backup", "nope"], "no source named"),
        "unknown snapshot": (["verify", "deadbeef"], "no snapshot"),
        "not an id": (["verify", "xyz!"], "not a snapshot id"),
        "unknown command": (["frobnicate"], "invalid choice"),
    }


BAD_CASES = (
    "missing file",
    "directory",
    "text file",
    "zero-byte file",
    "encrypted or garbage",
    "unwritable destination",
    "bad schedule",
    "bad keep",
    "bad name",
    "bad check",
    "unknown source",
    "unknown snapshot",
    "not an id",
    "unknown command",
)


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_clear_line_and_exit_2(cli, tmp_path: Path, case: str):
    args, words = _bad_inputs(tmp_path)[case]
    result = cli(*args)
    assert result.code == 2, (result.out, result.err)
    lines = result.err.splitlines()
    assert lines[0].startswith("error: ") and words in lines[0], result.err
    assert len(lines) <= 2 and all(not line.startswith("  File") for line in lines)
    assert "Traceback" not in result.err


def test_duplicate_source_name(cli, tmp_path: Path):
    first = make_db(tmp_path / "one.db", rows=5)
    (tmp_path / "two").mkdir()
    second = make_db(tmp_path / "two" / "one.db", rows=5)
    assert cli("source", "add", str(first)).code == 0
    result = cli("source", "add", str(second))
    assert result.code == 2
    assert "already exists" in result.err and "--name" in result.err


def test_malformed_config_in_a_real_process(home: Path, db: Path):
    home.mkdir(parents=True)
    (home / "config.toml").write_text('[sources.notes]\npath = "/x.db"\nschedule = 5\n')
    result = cli_process(home, "source", "list")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {home / 'config.toml'}:3: sources.notes.schedule")
    assert "Traceback" not in result.stderr
    (home / "config.toml").write_text("[sources.notes\n")
    result = cli_process(home, "snapshots")
    assert result.returncode == 2 and "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_remove_source_keeps_snapshots_unless_asked(cli, db: Path):
    cli("source", "add", str(db))
    record = json.loads(cli("backup", "notes", "--json").out)
    assert cli("source", "remove", "notes").code == 0
    assert Path(record["path"]).exists()
    assert json.loads(cli("snapshots", "--json").out)[0]["id"] == record["id"]
    cli("source", "add", str(db))
    refused = cli("source", "remove", "notes", "--delete-snapshots")
    assert refused.code == 2 and "nothing was deleted" in refused.err
    assert cli("source", "remove", "notes", "--delete-snapshots", "--yes").code == 0
    assert not Path(record["path"]).exists()
    assert json.loads(cli("snapshots", "--json").out) == []


def test_kill_9_during_backup_never_leaves_a_false_snapshot(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "big.db", rows=40_000, payload=1000)
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    command = [sys.executable, "-m", "lifeboat", "backup", "notes"]
    work_s = time_work(home, command, env)  # one whole run, to spread the kills over it
    # Each kill lands in the work itself, after start-up (24 kills spread over the whole
    # run, start-up included, hit the work 7 times in a measurement).
    killed = kill_during_work(home, command, env, kills=12, work_s=work_s, seed=7)
    assert len(killed) == 12, "the backups finished too fast to be interrupted"
    folder = home / "snapshots" / "notes"
    for manifest_path in folder.glob("*.json"):
        manifest = read_manifest(manifest_path)
        artifact = folder / manifest.artifact
        assert artifact.is_file(), f"manifest without its artifact: {manifest_path}"
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == manifest.sha256
    rebuilt = cli_process(home, "catalog", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    on_disk = {read_manifest(p).id for p in folder.glob("*.json")}
    listed = json.loads(cli_process(home, "snapshots", "--json").stdout)
    assert {r["id"] for r in listed} == on_disk
    stems = {p.name.removesuffix(".json") for p in folder.glob("*.json")}
    artifacts = {p.name.removesuffix(".sqlite.zst") for p in folder.glob("*.sqlite.zst")}
    artifacts |= {p.name.removesuffix(".diff.zst") for p in folder.glob("*.diff.zst")}
    assert artifacts == stems
    assert {p.name.removesuffix(".pages") for p in folder.glob("*.pages")} <= stems
    final = cli_process(home, "backup", "notes", "--json")
    assert final.returncode == 0, final.stderr
    assert not list(folder.glob(".*.partial")) and not files_under(home / "tmp")
    assert cli_process(home, "verify", "--all").returncode == 0


def test_the_progress_line_of_a_step_names_it_without_bytes():
    """A merge reports its steps ("safety snapshot", then "merge") as 0 of 1: no
    "0 B / 1 B" then; a phase of bytes keeps its bar."""
    import io

    from lifeboat.cli.output import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar("safety snapshot", 0, 1)
    step = stream.getvalue()
    assert "safety snapshot …" in step and " B" not in step
    bar("copy", 512 << 10, 1 << 20)
    assert "50.0%  524.3 KB / 1.0 MB" in stream.getvalue()[len(step) :]
