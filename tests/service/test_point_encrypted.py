"""A source kept encrypted here: a point of its history restores, its sealed base opened
with the identities the service holds, and nothing decrypted is left behind."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.follower import Follower
from lifeboat.core.private import private_dir
from lifeboat.service import Service
from lifeboat.service.history import history_folder
from lifeboat.storage.memory import MemoryStores


def test_a_point_of_a_sealed_source_restores(home: Path, file_keyring: Path, tmp_path: Path):
    service = Service(stores=MemoryStores())
    service.init_key()
    db = tmp_path / "secret.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table notes(id integer primary key, body text)")
    service.add_source(db, encrypt_local=True)
    workspace = service.workspace
    src = workspace.config().source("secret")
    folder = private_dir(history_folder(workspace, src), "history folder")

    def take_base() -> BaseRef:
        record = service.backup("secret", full=True, upload=False)
        assert record.path.name.endswith(".sqlite.zst.age")  # sealed here
        return BaseRef(record.manifest, record.folder)

    follower = Follower(
        "secret", db, folder, workspace.run, workspace.scratch(), take_base, write_every_s=0
    )
    follower.start()
    marks = []
    for k in range(20):
        conn.execute("insert into notes(body) values (?)", (f"secret note {k}",))
        follower.poll()
        marks.append((datetime.now(UTC), k + 1))
    follower.close()
    conn.close()
    at, rows = marks[9]
    out = tmp_path / "back.db"
    result = service.restore_point("secret", at, to=out)
    assert result.point is not None
    back = sqlite3.connect(out)
    assert back.execute("select count(*) from notes").fetchone()[0] == rows
    back.close()
    assert not [p for p in (home / "tmp").rglob("*") if p.is_file()], "nothing decrypted left"
