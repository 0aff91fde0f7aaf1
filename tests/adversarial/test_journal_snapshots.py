"""Snapshots of a rollback-journal database taken by the converging copy (copied without a
lock, compared under SQLite's shared lock): each one is a state the app's writer
committed, a kill -9 at any moment leaves nothing behind after the next start, a disk
that fills up mid-copy is said as such and leaves nothing, and the live file is never
written."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.errors import OperationFailed
from tests.adversarial.conftest import lifeboat
from tests.adversarial.test_work_files import add, assert_nothing_left, kill_at_random
from tests.core.test_converging_copy import ledger_state, versioned_db
from tests.helpers.databases import content_digest
from tests.helpers.workfiles import files_under, snapshot_request

LEDGER_WRITER = Path(__file__).parent.parent / "helpers" / "ledger_writer.py"


def start_writer(db: Path, log: Path) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, str(LEDGER_WRITER), str(db), str(log)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    return writer


def stop_writer(writer: subprocess.Popen[str], log: Path) -> set[int]:
    """Stop the app's writer; the ledger totals it committed."""
    writer.send_signal(signal.SIGTERM)
    writer.wait(timeout=60)
    return {int(line) for line in log.read_text().split()}


def test_each_snapshot_restores_to_a_state_the_writer_committed(ahome: Path, open_base: Path):
    db = versioned_db(open_base / "notes.db", rows=30_000)
    add(ahome, db, "notes", "--schedule", "manual")
    log = open_base / "ledger.log"
    writer = start_writer(db, log)
    try:
        for _ in range(3):  # a full, then differentials against it
            done = lifeboat(ahome, "backup", "notes", "--json")
            assert done.returncode == 0, done.stderr
    finally:
        logged = stop_writer(writer, log)
    snaps = json.loads(lifeboat(ahome, "snapshots", "notes", "--json").stdout)
    assert len(snaps) == 3 and {s["kind"] for s in snaps} == {"full", "diff"}
    states = []
    for snap in snaps:
        out = open_base / f"restored-{snap['id']}.db"
        assert lifeboat(ahome, "restore", snap["id"], "--to", str(out)).returncode == 0
        states.append(ledger_state(out))
    assert set(states) <= logged, set(states) - logged


def test_killed_backups_of_a_journal_source_under_a_writer_leave_nothing(
    ahome: Path, open_base: Path
):
    db = versioned_db(open_base / "big.db", rows=40_000)
    add(ahome, db, "notes", "--schedule", "manual")
    log = open_base / "ledger.log"
    writer = start_writer(db, log)
    try:
        killed = kill_at_random(ahome, ["backup", "notes", "--full"], kills=5, seed=22)
    finally:
        logged = stop_writer(writer, log)
    assert killed == 5
    assert_nothing_left(ahome, open_base)
    assert lifeboat(ahome, "verify", "--all").returncode == 0
    assert ledger_state(db) in logged  # the live database is whole: never written by us


def test_a_disk_filling_up_mid_copy_is_said_and_leaves_nothing(open_base: Path, small_disk):
    disk = small_disk(40)
    db = versioned_db(open_base / "growing.db", rows=8_000)  # ~6 MB: room for its copy
    before = content_digest(db)
    # the copy's progress may be told from the copier's thread (core/snapshot_converge.py)
    grower = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    grew: list[bool] = []

    def grow_half_way(phase: str, done: int, total: int) -> None:
        # The app grows the file eightfold while it is copied: the copy no longer fits.
        if phase == "copy" and not grew and done >= total // 2:
            for _ in range(3):
                grower.execute("insert into items(name, payload) select name, payload from items")
            grew.append(True)

    request = snapshot_request(disk, db, folder=open_base / "snaps" / "notes")
    try:
        with pytest.raises(OperationFailed) as err:
            take_snapshot(request, progress=grow_half_way)
    finally:
        grower.close()
    assert grew, err.value.message
    assert "full" in err.value.message and "no snapshot" in err.value.message
    assert files_under(disk / "tmp") == []
    assert list((open_base / "snaps" / "notes").iterdir()) == []
    assert content_digest(db) != before  # the app's rows are there, untouched by us
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
