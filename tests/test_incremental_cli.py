"""Differentials as a user meets them: backups, export, verify, restore, kill -9, remote."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

from lifeboat.core.manifest import read_manifest
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.conftest import cli_process, set_source
from tests.helpers.databases import db_content, make_db
from tests.helpers.killing import kill_during_work, time_work
from tests.helpers.memory_remote import add_memory_remote
from tests.scheduling.test_scheduler import old_snapshot


def touch_rows(db: Path, fraction: float = 0.02, seed: int = 0) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    top = conn.execute("select max(id) from items").fetchone()[0]
    for i in rng.sample(range(1, top + 1), max(1, int(top * fraction))):
        conn.execute("update items set name = ? where id = ?", (f"v{seed}-{i}", i))
    conn.commit()
    conn.close()


def test_full_then_differentials_and_forced_bases(cli, tmp_path: Path, home: Path):
    db = make_db(tmp_path / "notes.db", rows=3000, payload=600)
    cli("source", "add", str(db))
    first = json.loads(cli("backup", "notes", "--json").out)
    touch_rows(db, seed=1)
    second = json.loads(cli("backup", "notes", "--json").out)
    assert (first["kind"], second["kind"], second["base"]) == ("full", "diff", first["id"])
    assert second["size"] < first["size"] / 5
    forced = json.loads(cli("backup", "notes", "--full", "--json").out)
    assert forced["kind"] == "full"
    touch_rows(db, seed=2)
    after = json.loads(cli("backup", "notes", "--json").out)
    assert after["base"] == forced["id"], "differentials follow the newest base"
    listing = cli("snapshots")
    assert f"diff/{forced['id']}" in listing.out
    cli("source", "set", "notes", "--no-incremental")
    touch_rows(db, seed=3)
    assert json.loads(cli("backup", "notes", "--json").out)["kind"] == "full"


def test_rebase_after_a_week_or_when_the_base_is_bad(tmp_path: Path, home: Path):
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=500)
    service.add_source(db)
    old_snapshot(service, "notes", timedelta(days=8))
    touch_rows(db, seed=1)  # each backup below has something new to store
    assert service.backup("notes").manifest.kind == "full", "base older than rebase_after"
    touch_rows(db, seed=2)
    good = service.backup("notes")
    assert good.manifest.kind == "diff"
    base = service.snapshot(good.manifest.base)
    service.workspace.catalog.set_status(base.id, "corrupt", "test")
    touch_rows(db, seed=3)
    assert service.backup("notes").manifest.kind == "full", "the base failed verification"
    newest_base = service.snapshots("notes")[0]
    newest_base.path.unlink()
    touch_rows(db, seed=4)
    assert service.backup("notes").manifest.kind == "full", "the base's file is gone"


def test_lost_page_hashes_are_rebuilt_from_the_base(tmp_path: Path, home: Path):
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=800)
    service.add_source(db)
    base = service.backup("notes")
    pages = base.folder / f"{base.manifest.stem}.pages"
    pages.unlink()
    touch_rows(db, seed=5)
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff" and pages.exists()
    out = tmp_path / "out.db"
    service.restore(diff.id, to=out)
    assert db_content(out) == db_content(db)


def test_export_and_its_bad_inputs(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=2000)
    cli("source", "add", str(db))
    cli("backup", "notes")
    touch_rows(db, seed=3)
    diff = json.loads(cli("backup", "notes", "--json").out)
    out = tmp_path / "exported.db"
    done = cli("export", diff["id"], "--to", str(out))
    assert done.code == 0 and "rebuilt" in done.out, done.err
    assert db_content(out) == db_content(db)
    again = cli("export", diff["id"], "--to", str(out))
    assert again.code == 2 and "already exists" in again.err
    assert cli("export", diff["id"], "--to", str(out), "--yes").code == 0


def test_flipped_byte_in_a_base_fails_its_differentials(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=2000)
    cli("source", "add", str(db))
    base = json.loads(cli("backup", "notes", "--json").out)
    touch_rows(db, seed=4)
    diff = json.loads(cli("backup", "notes", "--json").out)
    before = db.read_bytes()
    artifact = Path(base["path"])
    data = bytearray(artifact.read_bytes())
    data[len(data) // 3] ^= 0x10
    artifact.write_bytes(bytes(data))
    verified = cli("verify", diff["id"])
    assert verified.code == 1 and "damaged" in verified.out
    restored = cli("restore", diff["id"], "--yes")
    assert restored.code == 1 and "damaged" in restored.err
    assert db.read_bytes() == before, "nothing was restored"


def test_a_missing_base_file_is_named(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=1500)
    cli("source", "add", str(db))
    base = json.loads(cli("backup", "notes", "--json").out)
    touch_rows(db, seed=6)
    diff = json.loads(cli("backup", "notes", "--json").out)
    Path(base["path"]).unlink()
    result = cli("export", diff["id"], "--to", str(tmp_path / "x.db"))
    assert result.code == 1
    assert base["id"] in result.err and "missing" in result.err


def test_kill_9_during_differentials(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=40_000, payload=1000)
    assert cli_process(home, "source", "add", str(db), "--keep", "last=100").returncode == 0
    assert cli_process(home, "backup", "notes").returncode == 0  # the base
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    command = [sys.executable, "-m", "lifeboat", "backup", "notes"]
    touch_rows(db, 0.05, seed=100)
    work_s = time_work(home, command, env)
    rounds = iter(range(1000))
    killed = kill_during_work(
        home,
        command,
        env,
        kills=12,
        work_s=work_s,
        seed=3,
        before_each=lambda: touch_rows(db, 0.05, seed=next(rounds)),
    )
    assert len(killed) == 12
    folder = home / "snapshots" / "notes"
    assert cli_process(home, "catalog", "rebuild").returncode == 0
    listed = json.loads(cli_process(home, "snapshots", "--json").stdout)
    assert {r["id"] for r in listed} == {read_manifest(p).id for p in folder.glob("*.json")}
    assert sum(r["kind"] == "diff" for r in listed) >= 1
    assert not list(folder.glob("*.diff.zst")) or all(
        p.with_name(p.name.removesuffix(".diff.zst") + ".json").exists()
        for p in folder.glob("*.diff.zst")
    )
    verified = cli_process(home, "verify", "--all")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_remote_gets_the_base_first_and_restores_differentials(home: Path, tmp_path: Path):
    stores = MemoryStores()
    service = Service(stores=stores)
    add_memory_remote(service)
    db = make_db(tmp_path / "notes.db", rows=2000)
    service.add_source(db)
    base = service.backup("notes")
    touch_rows(db, seed=7)
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff"
    set_source(home, "notes", remote="offsite")
    outcome = service.upload("notes")
    assert outcome.uploaded == [base.id, diff.id], "the base goes up first"
    expected = db_content(db)
    for record in (base, diff):
        record.path.unlink()
    out = tmp_path / "from-remote.db"
    service.restore(diff.id, to=out)
    assert db_content(out) == expected
    assert len(stores.opened) == 3 and all(s.closed for s in stores.opened), (
        "one store for the upload, one per download; each closed"
    )
