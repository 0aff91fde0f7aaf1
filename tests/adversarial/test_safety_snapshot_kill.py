"""kill -9 at random moments of a merge restore into a WAL database whose app keeps its
commits in the WAL (never checkpoints): the safety snapshot is then read straight from
the file after Lifeboat's own PASSIVE checkpoint (docs/SAFETY.md, "The safety
snapshot") where Lifeboat's SQLite is free of the WAL-reset bug, and copied page by page
where it is not (core/wal_reset.py; both run here, whatever SQLite this Python links).
Whatever the moment, the database is whole and either as it was or merged, never merged
without a protected safety snapshot holding exactly what it was, and what a killed run
left behind is swept (catalog rebuild and verify pass)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core import wal_reset
from lifeboat.core.manifest import read_manifest
from tests.conftest import WRITER, cli_process
from tests.helpers.databases import content_digest, integrity, make_db
from tests.helpers.killing import kill_during_work, time_work


def _safety_snapshots(folder: Path) -> list[str]:
    return [
        m.id
        for m in (read_manifest(p) for p in folder.glob("*.json"))
        if m.reason == "pre-restore" and m.protected
    ]


#: The CLI as it runs on a SQLite without the WAL-reset bug (its safety snapshot checkpoints).
AS_ON_A_FIXED_SQLITE = (
    "import sys; from lifeboat.core import wal_reset; wal_reset.LINKED_HAS_BUG = False; "
    "from lifeboat.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("sqlite", ["fixed", "as-linked"])
def test_kill_9_during_a_merge_whose_safety_snapshot_checkpoints_first(
    home: Path, tmp_path: Path, sqlite: str
):
    checkpoints = sqlite == "fixed" or not wal_reset.LINKED_HAS_BUG
    db = make_db(tmp_path / "notes.db", rows=20_000, payload=600, wal=True)
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    then = json.loads(cli_process(home, "backup", "notes", "--json").stdout)["id"]
    pristine = tmp_path / "pristine.db"
    shutil.copyfile(db, pristine)
    apps: list[sqlite3.Connection] = []

    def before_each() -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, db)
        app = sqlite3.connect(db, isolation_level=None)
        app.execute("pragma wal_autocheckpoint=0")
        app.execute("delete from items where id % 40 = 0")
        apps.append(app)  # open until the round ends: its commit stays in the WAL

    before_each()
    old = content_digest(db)
    apps.pop().close()
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    how = ["-c", AS_ON_A_FIXED_SQLITE] if sqlite == "fixed" else ["-m", "lifeboat"]
    command = [sys.executable, *how, "restore", "notes", "--from", then]
    command += ["--table", "items", "--deleted-only", "--yes"]
    before_each()
    work_s = time_work(home, command, env)
    merged = content_digest(db)
    assert merged != old
    apps.pop().close()
    folder = home / "snapshots" / "notes"
    (first,) = _safety_snapshots(folder)
    taken = next(read_manifest(p) for p in folder.glob(f"*{first}.json"))
    direct = taken.extra["copy_strategy"] == "wal-direct"
    # On an affected SQLite it is read from the file only if the merge's own freeze
    # checkpointed first, under the merge's write lock (tests/core/test_wal_reset.py)
    assert direct or not checkpoints, "read from the file after Lifeboat's own checkpoint"
    restored = tmp_path / "safety.db"
    outcomes = {"old": 0, "merged": 0}

    def after_each(killed: bool) -> None:
        apps.pop().close()
        assert integrity(db) == "ok"
        state = content_digest(db)
        assert state in (old, merged), "the database holds a mix"
        if state == old:
            assert killed, "a merge that ran to its end changed nothing"
            outcomes["old"] += 1
            return
        outcomes["merged"] += 1
        # merged: the newest safety snapshot holds exactly what it was before
        newest = max(_safety_snapshots(folder), key=lambda i: _created(folder, i))
        restored.unlink(missing_ok=True)
        done = cli_process(home, "restore", newest, "--to", str(restored), "--yes")
        assert done.returncode == 0, done.stderr
        assert content_digest(restored) == old

    killed = kill_during_work(
        home,
        command,
        env,
        kills=6,
        work_s=work_s,
        seed=26,
        before_each=before_each,
        after_each=after_each,
    )
    assert len(killed) == 6
    assert outcomes["old"] >= 1, outcomes
    rebuilt = cli_process(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert cli_process(home, "verify", "--all").returncode == 0


def _created(folder: Path, snapshot_id: str) -> str:
    manifest = next(read_manifest(p) for p in folder.glob(f"*{snapshot_id}.json"))
    return manifest.created_at.isoformat()


def _items(db: Path) -> dict[int, tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0]: r for r in conn.execute("select * from items order by id")}
    finally:
        conn.close()


def test_kill_9_during_a_merge_under_its_lock_while_the_app_keeps_writing(
    home: Path, tmp_path: Path
):
    # A writer process commits every 2 ms: the safety snapshot is taken under the
    # merge's write lock (core/wal_direct.py).
    # Whatever the moment of the kill, the database is whole, holds every commit of the
    # writer, and either lacks every lost row or has them all back, the latter never
    # without a protected safety snapshot of exactly the database before the merge.
    db = make_db(tmp_path / "busy.db", rows=20_000, payload=600, wal=True)
    assert cli_process(home, "source", "add", str(db), "--name", "busy").returncode == 0
    then = json.loads(cli_process(home, "backup", "busy", "--json").stdout)["id"]
    conn = sqlite3.connect(db, isolation_level=None)
    # (never the last id: the writer's first row would take it again)
    lost = {r[0] for r in conn.execute("select id from items where id % 40 = 1")}
    conn.execute("delete from items where id % 40 = 1")
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    pristine = tmp_path / "pristine.db"
    shutil.copyfile(db, pristine)
    writers: list[subprocess.Popen[str]] = []

    def before_each() -> None:
        for suffix in ("-wal", "-shm", ".latency"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, db)
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), "0.002"], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        writers.append(writer)

    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    command = [sys.executable, "-m", "lifeboat", "restore", "busy", "--from", then]
    command += ["--table", "items", "--deleted-only", "--yes"]
    folder = home / "snapshots" / "busy"
    outcomes = {"old": 0, "merged": 0}

    def after_each(killed: bool) -> None:
        writer = writers.pop()
        writer.terminate()
        writer.wait(timeout=30)
        written = len(Path(f"{db}.latency").read_text().split())
        assert integrity(db) == "ok"
        final = _items(db)
        assert sum(r[1] == "writer" for r in final.values()) == written, "a commit was lost"
        back = lost & set(final)
        assert back in (set(), lost), "the database holds a mix"
        if not back:
            assert killed, "a merge that ran to its end changed nothing"
            outcomes["old"] += 1
            return
        outcomes["merged"] += 1
        newest = max(_safety_snapshots(folder), key=lambda i: _created(folder, i))
        restored = tmp_path / "safety.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{restored}{suffix}").unlink(missing_ok=True)
        done = cli_process(home, "restore", newest, "--to", str(restored), "--yes")
        assert done.returncode == 0, done.stderr
        kept = _items(restored)
        assert not set(kept) & lost, "the safety snapshot holds the database before the merge"
        assert all(final[i] == row for i, row in kept.items())
        later = set(final) - set(kept) - lost  # the writer's commits after the merge only
        assert all(final[i][1] == "writer" for i in later)

    before_each()
    work_s = time_work(home, command, env)
    after_each(False)
    killed = kill_during_work(
        home,
        command,
        env,
        kills=6,
        work_s=work_s,
        seed=28,
        before_each=before_each,
        after_each=after_each,
    )
    assert len(killed) == 6
    assert outcomes["merged"] >= 1, outcomes
    rebuilt = cli_process(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert cli_process(home, "verify", "--all").returncode == 0
