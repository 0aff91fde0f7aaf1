"""Rules 1 and 9: Lifeboat deletes only its own provably incomplete work (or what the user
decided to delete); a damaged snapshot is shown, never silently pruned.

Each attack leaves a completed artifact without a usable manifest (missing, truncated,
from a newer Lifeboat), then runs the commands a user would (backup, snapshots, catalog
rebuild, verify, restore) and checks that the artifact's bytes are still there.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.adversarial.conftest import lifeboat
from tests.helpers.databases import content_digest, make_db


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def added(home: Path, db: Path, *extra: str) -> None:
    done = lifeboat(home, "source", "add", str(db), "--name", "notes", *extra)
    assert done.returncode == 0, done.stderr


def backup(home: Path, *extra: str) -> dict:
    done = lifeboat(home, "backup", "notes", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def write_some(db: Path, rows: int = 50) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "insert into items(name, payload) values (?, randomblob(300))",
        [(f"more-{i}",) for i in range(rows)],
    )
    conn.commit()
    conn.close()


@pytest.fixture
def source(ahome: Path, open_base: Path) -> Path:
    db = make_db(open_base / "notes.db", rows=300)
    added(ahome, db)
    return db


def folder(home: Path) -> Path:
    return home / "snapshots" / "notes"


def test_a_lost_manifest_is_written_back_from_the_catalog(ahome: Path, source: Path):
    snap = backup(ahome)
    artifact = Path(snap["path"])
    manifest = artifact.with_name(artifact.name.removesuffix(".sqlite.zst") + ".json")
    original = manifest.read_bytes()
    manifest.unlink()
    write_some(source)
    backup(ahome)  # a backup tidies the folder first
    assert manifest.read_bytes() == original
    assert "needs attention" not in lifeboat(ahome, "snapshots").stdout


def test_an_artifact_whose_manifest_and_catalog_were_lost_is_kept_listed_and_recovered(
    ahome: Path, source: Path, open_base: Path
):
    snap = backup(ahome)
    artifact = Path(snap["path"])
    digest = sha(artifact)
    before = content_digest(source)
    (folder(ahome) / f"{artifact.name.removesuffix('.sqlite.zst')}.json").unlink()
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (ahome / name).unlink(missing_ok=True)  # a new machine, or a lost catalog
    for _ in range(2):  # backups scan and tidy the folder: the artifact stays
        write_some(source)
        backup(ahome)
    assert sha(artifact) == digest
    listed = lifeboat(ahome, "snapshots")
    assert "needs attention" in listed.stdout and artifact.name in listed.stdout
    as_json = json.loads(lifeboat(ahome, "snapshots", "--json").stdout)
    assert any(e["status"] == "needs-attention" and e["path"] == str(artifact) for e in as_json)
    rebuilt = lifeboat(ahome, "catalog", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = json.loads(rebuilt.stdout)
    assert any(snap["id"] in line for line in report["recovered"])
    assert sha(artifact) == digest
    record = next(
        r
        for r in json.loads(lifeboat(ahome, "snapshots", "--json").stdout)
        if r.get("id") == snap["id"]
    )
    assert record["status"] == "ok" and record["protected"]  # nothing recovered is pruned
    assert lifeboat(ahome, "verify", snap["id"]).returncode == 0
    out = open_base / "recovered.db"
    assert lifeboat(ahome, "restore", snap["id"], "--to", str(out)).returncode == 0
    assert content_digest(out) == before
    assert "needs attention" not in lifeboat(ahome, "snapshots").stdout


def test_a_truncated_manifest_is_kept_aside_and_its_snapshot_recovered(ahome: Path, source: Path):
    snap = backup(ahome)
    artifact = Path(snap["path"])
    manifest = artifact.with_name(artifact.name.removesuffix(".sqlite.zst") + ".json")
    damaged = manifest.read_bytes()[:40]
    manifest.write_bytes(damaged)
    write_some(source)
    backup(ahome)
    assert artifact.is_file() and manifest.read_bytes() == damaged
    assert lifeboat(ahome, "catalog", "rebuild").returncode == 0
    assert artifact.is_file()
    assert manifest.with_name(manifest.name + ".damaged").read_bytes() == damaged
    assert json.loads(manifest.read_bytes())["id"] == snap["id"]
    assert lifeboat(ahome, "verify", snap["id"]).returncode == 0


def test_a_manifest_from_a_newer_lifeboat_is_never_touched(ahome: Path, source: Path):
    snap = backup(ahome)
    artifact = Path(snap["path"])
    manifest = artifact.with_name(artifact.name.removesuffix(".sqlite.zst") + ".json")
    future = json.loads(manifest.read_bytes())
    future["format"] = 99
    future["something_new"] = {"a": 1}
    manifest.write_text(json.dumps(future))
    kept = {
        p.name: sha(p)
        for p in folder(ahome).iterdir()
        if p.is_file() and p.name.startswith("notes-")
    }
    for command in (
        ["backup", "notes"],
        ["catalog", "rebuild"],
        ["prune", "notes"],
        ["verify", "--all"],
    ):
        lifeboat(ahome, *command)
    after = {p.name: sha(p) for p in folder(ahome).iterdir() if p.is_file() and p.name in kept}
    assert after == kept, "a newer Lifeboat's snapshot was changed or deleted"
    listed = lifeboat(ahome, "snapshots")
    assert "newer Lifeboat" in listed.stdout


def test_a_differential_without_its_manifest_is_recovered_on_its_base(
    ahome: Path, source: Path, open_base: Path
):
    backup(ahome)
    write_some(source)
    diff = backup(ahome)
    assert diff["kind"] == "diff"
    expected = content_digest(source)
    artifact = Path(diff["path"])
    artifact.with_name(artifact.name.removesuffix(".diff.zst") + ".json").unlink()
    (ahome / "catalog.sqlite").unlink()
    digest = sha(artifact)
    assert lifeboat(ahome, "catalog", "rebuild").returncode == 0
    assert sha(artifact) == digest
    out = open_base / "from-diff.db"
    done = lifeboat(ahome, "restore", diff["id"], "--to", str(out))
    assert done.returncode == 0, done.stderr
    assert content_digest(out) == expected


def test_a_page_list_and_an_unrecoverable_artifact_are_kept(ahome: Path, source: Path):
    snap = backup(ahome)
    artifact = Path(snap["path"])
    stem = artifact.name.removesuffix(".sqlite.zst")
    pages = artifact.with_name(stem + ".pages")
    (folder(ahome) / f"{stem}.json").unlink()
    artifact.write_bytes(artifact.read_bytes()[:100])  # truncated: cannot be recovered
    (ahome / "catalog.sqlite").unlink()
    kept = {artifact: sha(artifact), pages: sha(pages)}
    rebuilt = lifeboat(ahome, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    backup(ahome)
    assert {p: sha(p) for p in kept} == kept
    listed = lifeboat(ahome, "snapshots").stdout
    assert "Not recoverable here" in listed and artifact.name in listed


def test_a_deletion_cut_short_is_finished_not_left_as_an_orphan(ahome: Path, source: Path):
    first = backup(ahome, "--full")
    write_some(source)
    backup(ahome, "--full")
    artifact = Path(first["path"])
    stem = artifact.name.removesuffix(".sqlite.zst")
    # The state a prune killed right after its first step leaves: the manifest renamed
    # to the tombstone that records the user's (the policy's) decision.
    (folder(ahome) / f"{stem}.json").rename(folder(ahome) / f".{stem}.deleting")
    done = lifeboat(ahome, "backup", "notes")
    assert done.returncode == 0, done.stderr
    assert not artifact.exists() and not (folder(ahome) / f".{stem}.deleting").exists()
    assert not (folder(ahome) / f"{stem}.pages").exists()
    ids = [r.get("id") for r in json.loads(lifeboat(ahome, "snapshots", "--json").stdout)]
    assert first["id"] not in ids
    assert "needs attention" not in lifeboat(ahome, "snapshots").stdout


def test_damaged_snapshots_are_kept_listed_and_reported_not_pruned(ahome: Path, source: Path):
    assert lifeboat(ahome, "source", "set", "notes", "--keep", "last=1").returncode == 0
    base = backup(ahome, "--full")
    write_some(source)
    diff = backup(ahome)
    assert diff["kind"] == "diff" and diff["base"] == base["id"]
    artifact = Path(base["path"])
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    verified = lifeboat(ahome, "verify", "--all")
    assert verified.returncode == 1 and "damaged" in verified.stdout
    for _ in range(3):
        write_some(source)
        backup(ahome, "--full")
    assert artifact.is_file(), "retention deleted a damaged snapshot"
    assert Path(diff["path"]).is_file(), "retention deleted a differential of a damaged base"
    records = {
        r["id"]: r for r in json.loads(lifeboat(ahome, "snapshots", "--json").stdout) if "id" in r
    }
    assert records[base["id"]]["status"] == "corrupt"
    plan = json.loads(lifeboat(ahome, "prune", "notes", "--dry-run", "--json").stdout)
    reasons = {k["id"]: k["reasons"] for k in plan["keep"]}
    assert "damaged: kept until you delete it" in reasons[base["id"]]
    assert any("its base" in r for r in reasons[diff["id"]])
    status = json.loads(lifeboat(ahome, "status", "--json").stdout)["sources"][0]
    assert status["damaged"] == 1 and status["state"] != "ok"
    assert "damaged" in lifeboat(ahome, "status").stdout


def test_restores_that_keep_failing_do_not_pile_up_safety_snapshots(ahome: Path, source: Path):
    snap = backup(ahome)
    write_some(source)
    assert lifeboat(ahome, "backup", "notes").returncode == 0  # the newest: as it is now
    set_busy = lifeboat(ahome, "source", "list")  # (loads the config once)
    assert set_busy.returncode == 0
    config = ahome / "config.toml"
    config.write_text(
        config.read_text().replace(
            "[sources.notes]", "[general]\nbusy_timeout = 1\n\n[sources.notes]", 1
        )
    )
    holder = sqlite3.connect(source, isolation_level=None)
    holder.execute("begin immediate")  # another program holds the write lock
    try:
        for _ in range(3):
            done = lifeboat(ahome, "restore", snap["id"], "--yes")
            assert done.returncode == 1 and "locked" in done.stderr, done.stderr
    finally:
        holder.execute("rollback")
        holder.close()
    safety = [
        r
        for r in json.loads(lifeboat(ahome, "snapshots", "--json").stdout)
        if r.get("reason") == "pre-restore"
    ]
    assert len(safety) == 1 and safety[0]["protected"]
    done = lifeboat(ahome, "restore", snap["id"], "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["safety_snapshot"] == safety[0]["id"]


def test_a_damaged_snapshot_goes_only_when_the_user_deletes_it(ahome: Path, source: Path):
    base = backup(ahome, "--full")
    write_some(source)
    diff = backup(ahome)
    flip = bytearray(Path(base["path"]).read_bytes())
    flip[len(flip) // 2] ^= 1
    Path(base["path"]).write_bytes(bytes(flip))
    assert lifeboat(ahome, "verify", "--all").returncode == 1
    refused = lifeboat(ahome, "delete", base["id"])  # no terminal to ask on
    assert refused.returncode == 2 and Path(base["path"]).exists()
    assert diff["id"] in refused.stdout  # it says what depends on it
    done = lifeboat(ahome, "delete", base["id"], "--yes")
    assert done.returncode == 0, done.stderr
    assert not Path(base["path"]).exists()
    ids = [r.get("id") for r in json.loads(lifeboat(ahome, "snapshots", "--json").stdout)]
    assert base["id"] not in ids and diff["id"] in ids
