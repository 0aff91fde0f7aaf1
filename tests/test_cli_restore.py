"""restore, prune, pin and unpin as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.databases import change_db, db_content, make_db


def first_snapshot(cli, change: Path | None = None) -> dict[str, object]:
    """Back up notes (after changing `change`: an unchanged database is not stored again)."""
    if change is not None:
        change_db(change)
    result = cli("backup", "notes", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_restore_in_place_needs_confirmation_off_a_terminal(cli, db: Path):
    cli("source", "add", str(db))
    snap = first_snapshot(cli)
    refused = cli("restore", str(snap["id"]))
    assert refused.code == 2
    assert "not confirmed" in refused.err and "--yes" in refused.err
    change_db(db)  # else the database holds the snapshot already: nothing to write
    done = cli("restore", str(snap["id"]), "--yes", "--json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["method"] == "backup-api" and data["safety_snapshot"]
    again = cli("restore", str(snap["id"]), "--yes")
    assert again.code == 0, again.err
    assert "already held exactly this content: nothing was written" in again.out
    assert "kept as protected snapshot" not in again.out


def test_restore_bad_inputs(cli, db: Path, tmp_path: Path):
    cli("source", "add", str(db))
    snap = first_snapshot(cli)
    cases = [
        (["restore", "0badc0de", "--yes"], 2, "no snapshot"),
        (
            ["restore", str(snap["id"]), "--to", str(tmp_path / "nope" / "x.db")],
            2,
            "does not exist",
        ),
        (["restore", str(snap["id"]), "--to", str(db)], 2, "already exists"),
    ]
    for args, code, words in cases:
        result = cli(*args)
        assert result.code == code, (args, result.err)
        assert result.err.startswith("error: ") and words in result.err
        assert "Traceback" not in result.err
    artifact = Path(str(snap["path"]))
    artifact.write_bytes(artifact.read_bytes()[:-10])
    damaged = cli("restore", str(snap["id"]), "--to", str(tmp_path / "out.db"))
    assert damaged.code == 1 and "damaged" in damaged.err
    assert not (tmp_path / "out.db").exists()


def test_prune_lists_reasons_and_deletes(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=10)
    cli("source", "add", str(db), "--keep", "last=2")
    cli("source", "set", "notes", "--no-prune", "--no-incremental")
    ids = [str(first_snapshot(cli, change=db)["id"]) for _ in range(4)]
    pinned = cli("pin", ids[0], "--reason", "pre-migration")
    assert pinned.code == 0 and "protected" in pinned.out
    dry = cli("prune", "notes", "--dry-run", "--json")
    plan = json.loads(dry.out)
    assert {k["id"] for k in plan["keep"]} == {ids[0], ids[2], ids[3]}
    assert [f["id"] for f in plan["forget"]] == [ids[1]]
    assert len(json.loads(cli("snapshots", "--json").out)) == 4
    text = cli("prune", "notes")
    assert text.code == 0 and "protected" in text.out and "last 2" in text.out
    assert "deleted 1" in text.out
    left = {r["id"] for r in json.loads(cli("snapshots", "--json").out)}
    assert left == {ids[0], ids[2], ids[3]}
    assert cli("unpin", ids[0]).code == 0
    cli("prune", "--all")
    assert {r["id"] for r in json.loads(cli("snapshots", "--json").out)} == {ids[2], ids[3]}


def test_backup_prunes_automatically_and_protect_flag(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=10)
    cli("source", "add", str(db), "--keep", "last=1")
    protected = cli("backup", "notes", "--protect", "--reason", "pre-migration", "--json")
    record = json.loads(protected.out)
    assert record["protected"] and record["reason"] == "pre-migration"
    for _ in range(3):
        first_snapshot(cli, change=db)
    records = json.loads(cli("snapshots", "--json").out)
    assert len(records) == 2
    assert record["id"] in {r["id"] for r in records}


def test_restore_of_a_removed_source_to_a_new_file(cli, db: Path, tmp_path: Path):
    cli("source", "add", str(db))
    snap = first_snapshot(cli)
    cli("source", "remove", "notes")
    refused = cli("restore", str(snap["id"]), "--yes")
    assert refused.code == 2 and "--to" in refused.err
    out = tmp_path / "back.db"
    assert cli("restore", str(snap["id"]), "--to", str(out)).code == 0
    assert db_content(out) == db_content(db)


def test_restore_in_place_answered_yes_on_a_terminal_restores(cli, db: Path, home: Path):
    """The question a person answers on a terminal (a real pseudo-terminal), then the
    restore itself: the database holds the snapshot's rows again, the old ones are kept
    as a safety snapshot."""
    import os
    import pty
    import subprocess
    import sys

    cli("source", "add", str(db))
    snap = first_snapshot(cli)
    before = db_content(db)
    change_db(db)
    assert db_content(db) != before
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "lifeboat", "restore", str(snap["id"])],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LIFEBOAT_HOME": str(home)},
            text=True,
        )
        os.write(leader, b"y\n")
        out, err = process.communicate(timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "restored snapshot" in out
    assert db_content(db) == before
    kinds = [j["kind"] for j in json.loads(cli("jobs", "--json").out)]
    assert "restore" in kinds and "export" not in kinds


def test_restore_to_a_new_file_is_a_restore(cli, db: Path, tmp_path: Path):
    cli("source", "add", str(db))
    snap = first_snapshot(cli)
    done = cli("restore", str(snap["id"]), "--to", str(tmp_path / "copy.db"))
    assert done.code == 0, done.err
    assert db_content(tmp_path / "copy.db") == db_content(db)
    kinds = [j["kind"] for j in json.loads(cli("jobs", "--json").out)]
    assert "restore" in kinds and "export" not in kinds
