"""A drill restores a random moment among every point a restore could give back, and its
result says which: a rollback-journal database protected by differentials after each
change (the moment resolves to the last snapshot at or before it), and a continuous
history that only the remote holds (fetched and rebuilt as a restore from it would be).
The history on the remote: against the S3 server process."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from lifeboat.service import Service
from lifeboat.service.history import history_folder
from tests.helpers.databases import make_db
from tests.helpers.workfiles import files_under
from tests.service.test_history_remote import NAME, _capture
from tests.storage.test_remote import add_remote


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_a_journal_database_with_frequent_differentials_is_drilled_at_a_moment(
    home: Path, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=50, wal=False)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    for n in range(4):  # a change, then the snapshot the change watch would take
        with sqlite3.connect(db) as conn:
            conn.execute("update items set name = ? where id = ?", (f"changed-{n}", n + 1))
        service.backup(NAME, reason="continuous")
    taken = {r.id: r.manifest.created_at for r in service.snapshots(NAME)}
    assert len(taken) == 4

    for _ in range(3):  # a random moment each time: the rule holds for whichever
        result = service.drill(NAME)
        assert result.passed, result
        (point,) = [c for c in result.checks if c.point]
        asked = _moment(str(point.point["asked"]))
        assert point.point["snapshot_only"] is True
        assert min(taken.values()) <= asked <= max(taken.values())
        before = max((t, i) for i, t in taken.items() if t <= asked)
        assert point.snapshot_id == before[1], "the last snapshot at or before the moment"
        assert point.copy == "local" and point.ok


def test_a_history_only_the_remote_holds_is_drilled_from_the_remote(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, cli
):
    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    marks = _capture(service, db, range(1000, 1006), "a")
    assert service.upload_history(NAME).uploaded
    # This computer keeps none of it (a new machine after `catalog rebuild` is the same).
    folder = history_folder(service.workspace, service.source(NAME))
    folder.rename(tmp_path / "history-aside")

    result = service.drill(NAME)
    assert result.passed, result
    (point,) = [c for c in result.checks if c.point]
    assert point.copy == "offsite", "read from the remote's history"
    assert not point.point["snapshot_only"] and int(str(point.point["commit_seq"])) >= 1
    commit_time = _moment(str(point.point["commit_time"]))
    asked = _moment(str(point.point["asked"]))
    assert commit_time <= asked <= marks[-1][0]
    assert not files_under(service.workspace.temp_dir(service.workspace.config()))
    said = cli("drill", NAME)
    assert said.code == 0, said.err
    assert "(offsite copy" in said.out and "moment " in said.out, said.out
