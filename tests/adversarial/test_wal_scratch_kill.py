"""kill -9 of a backup of a live WAL database that is copied into scratch inside a short
read transaction (core/wal_scratch.py): every kill leaves nothing behind once the next
command starts, the app's checkpoints run at once after it, and the backups that finished
are whole."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.adversarial.conftest import lifeboat
from tests.adversarial.test_work_files import add, assert_nothing_left, kill_at_random
from tests.core.test_wal_direct import checkpointed_wal_db


def test_killed_backups_of_an_open_wal_database_leave_nothing(ahome: Path, open_base: Path):
    db = checkpointed_wal_db(open_base / "app.db", rows=40_000)
    # The app keeps its database open (its -shm stays, the WAL is copied back): the
    # backups take the scratch copy.
    app = sqlite3.connect(db, isolation_level=None, timeout=0)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("select count(*) from items").fetchone()
    try:
        add(ahome, db, "notes", "--schedule", "manual")
        killed = kill_at_random(ahome, ["backup", "notes", "--full"], kills=5, seed=26)
        assert killed == 5
        app.execute("insert into items(name, payload) values ('after the kills', x'01')")
        busy = app.execute("pragma wal_checkpoint(truncate)").fetchone()[0]
        assert busy == 0  # no read transaction outlived the killed processes
        assert_nothing_left(ahome, open_base)
        done = lifeboat(ahome, "backup", "notes", "--full", "--json")
        assert done.returncode == 0, done.stderr
        snaps = json.loads(lifeboat(ahome, "snapshots", "notes", "--json").stdout)
        newest = Path(snaps[0]["path"])
        manifest = json.loads(newest.with_name(newest.name.split(".", 1)[0] + ".json").read_text())
        assert manifest["copy_strategy"] == "wal-converge"
    finally:
        app.close()
    assert lifeboat(ahome, "verify", "--all").returncode == 0
