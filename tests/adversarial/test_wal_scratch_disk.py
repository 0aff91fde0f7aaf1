"""A WAL source's snapshot copies the database file into scratch first (core/wal_converge.py,
core/wal_scratch.py):
a scratch disk too small, or filling up during the copy, fails the snapshot cleanly, says
so, leaves nothing behind, and never keeps the app's checkpoints out."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from lifeboat.core import snapshot
from lifeboat.core.dbcopy import CopySettings
from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.errors import OperationFailed
from tests.adversarial.conftest import fill_disk
from tests.core.test_wal_direct import checkpointed_wal_db
from tests.helpers.databases import content_digest
from tests.helpers.workfiles import files_under, snapshot_request


def app_checkpoints_at_once(db: Path) -> bool:
    """Whether the app commits and a TRUNCATE checkpoint completes without waiting."""
    app = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        app.execute("pragma wal_autocheckpoint=0")
        app.execute("insert into items(name, payload) values ('app', x'01')")
        return bool(app.execute("pragma wal_checkpoint(truncate)").fetchone()[0] == 0)
    finally:
        app.close()


@pytest.mark.parametrize("mode", ["converge", "follow"])
def test_a_scratch_disk_filling_up_during_the_copy_fails_cleanly(
    open_base: Path, small_disk, monkeypatch: pytest.MonkeyPatch, mode: str
):
    disk = small_disk(48)
    db = checkpointed_wal_db(open_base / "app.db", rows=20_000)  # ~14 MB: room for its copy
    size = db.stat().st_size
    checked_room = snapshot._require_room

    def room_then_another_program_fills_the_disk(request, estimate):  # type: ignore[no-untyped-def]
        checked_room(request, estimate)  # there was room when the snapshot started
        fill_disk(disk, leave=size // 2)

    monkeypatch.setattr(snapshot, "_require_room", room_then_another_program_fills_the_disk)
    request = snapshot_request(
        disk, db, folder=open_base / "snaps" / "notes", copy=CopySettings(wal_scratch=mode)
    )
    with pytest.raises(OperationFailed) as err:
        take_snapshot(request)
    assert "full" in err.value.message and "no snapshot" in err.value.message
    assert str(disk) in err.value.message  # the scratch disk, not the snapshot folder's
    assert files_under(disk / "tmp") == []  # the partial copy is gone
    assert list((open_base / "snaps" / "notes").iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "lifeboat-copy"]
    before = content_digest(db)
    assert app_checkpoints_at_once(db)  # no read transaction of ours is left behind
    assert content_digest(db) != before


def test_a_scratch_disk_too_small_is_refused_before_any_lock(open_base: Path, small_disk):
    disk = small_disk(8)
    db = checkpointed_wal_db(open_base / "app.db", rows=20_000)  # ~14 MB: no room
    request = snapshot_request(disk, db, folder=open_base / "snaps" / "notes")
    with pytest.raises(OperationFailed) as err:
        take_snapshot(request)
    assert "not enough free space" in err.value.message and str(disk) in err.value.message
    assert files_under(disk / "tmp") == []
    assert list((open_base / "snaps" / "notes").iterdir()) == []
    assert app_checkpoints_at_once(db)
