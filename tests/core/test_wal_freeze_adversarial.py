"""What a frozen WAL database (core/wal_direct.frozen_wal) holds against an app that does
everything SQLite lets it do to the database file while the freeze lasts.

The proof says: while the read transaction holds WAL read lock 0, no checkpoint copies
frames back, and in WAL mode nothing else writes the file. Two ways into the file bypass
the WAL read locks in SQLite (wal.c): the last connection's close checkpoints under an
EXCLUSIVE lock on the database file alone (sqlite3WalClose sets exclusiveMode, which
makes walLockExclusive a no-op), and leaving WAL mode needs that same EXCLUSIVE lock. Both
must be kept out by the SHARED lock the frozen connection holds on the database file.
Each case runs in a separate process (POSIX locks are per process) and the frozen file
must be byte for byte what it was, the app's commits left in its WAL.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifeboat.core.kept_descriptors import read_start
from lifeboat.core.wal_converge import converge_wal
from lifeboat.core.wal_direct import frozen_wal, looks_backfilled
from lifeboat.foundation.progress import CancelToken, no_progress
from tests.core.test_wal_direct import HELPERS, checkpointed_wal_db
from tests.helpers.wal_reset import copy_reading, judge_ledger_copies

_APP_ACTIONS = {
    # commits, then a TRUNCATE checkpoint (it waits on read lock 0, then gives up)
    "truncate": "commit(); print(c.execute('pragma wal_checkpoint(truncate)').fetchall())",
    # commits, then tries to leave WAL mode (needs the EXCLUSIVE lock)
    "leave-wal": "commit(); c.execute('pragma journal_mode=delete')",
}

# commits, then closes its last connection: SQLite checkpoints on close if it can
_CLOSE = "c.execute('pragma wal_autocheckpoint=0'); commit(); c.close()"

_APP = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=0.5, isolation_level=None)
def commit():
    c.execute("update items set version = version + 1 where rowid % 7 = 0")
try:
    {action}
except sqlite3.OperationalError as exc:
    print("refused:", exc)
"""


def _digest(fd: int) -> str:
    """The file's bytes hashed through the frozen descriptor: opening and closing one of
    our own would drop every lock this process holds on the file, the freeze's with it."""
    digest, offset = hashlib.sha256(), 0
    while piece := os.pread(fd, 1 << 20, offset):
        digest.update(piece)
        offset += len(piece)
    return digest.hexdigest()


@pytest.mark.parametrize("action", sorted(_APP_ACTIONS))
def test_the_app_cannot_write_the_frozen_file(tmp_path: Path, action: str):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=3000)
    keep = sqlite3.connect(db)  # the app's other connection: its WAL outlives the close
    keep.execute("select count(*) from items").fetchone()
    try:
        with frozen_wal(db, 1.0) as frozen:
            assert frozen is not None
            before = _digest(frozen.fd)
            # What other threads of a tray do meanwhile (the journal watch, the next
            # snapshot's hint): through kept descriptors, so the freeze's locks stay.
            read_start(db, 100)
            looks_backfilled(db)
            app = subprocess.run(
                [sys.executable, "-c", _APP.format(action=_APP_ACTIONS[action]), str(db)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert app.returncode == 0, app.stderr
            assert _digest(frozen.fd) == before, f"the app wrote the frozen file ({action})"
        # The app's commit is in its WAL, not lost: read once the freeze has ended.
        versions = keep.execute("select sum(version) from items").fetchone()[0]
        assert versions == len(range(7, 3001, 7))
    finally:
        keep.close()


def test_the_app_closing_its_only_connection_cannot_write_the_frozen_file(tmp_path: Path):
    """No other connection of the app: its close is the last one but ours."""
    db = checkpointed_wal_db(tmp_path / "app.db", rows=3000)
    with frozen_wal(db, 1.0) as frozen:
        assert frozen is not None
        before = _digest(frozen.fd)
        app = subprocess.run(
            [sys.executable, "-c", _APP.format(action=_CLOSE), str(db)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert app.returncode == 0, app.stderr
        assert _digest(frozen.fd) == before
        assert Path(f"{db}-wal").stat().st_size > 0  # the commit waits in the WAL


def _ledger_db(path: Path) -> Path:
    db = checkpointed_wal_db(path, rows=20_000)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table ledger(id integer primary key, total integer)")
    conn.execute("insert into ledger values (1, 0)")
    conn.close()
    return db


def test_converged_copies_while_the_app_restarts_its_wal_and_reconnects_are_logged_states(
    tmp_path: Path,
):
    """The hostile mix the existing test lacks: the app's RESTART and TRUNCATE
    checkpoints (the WAL started again from its first frame, the file truncated) and its
    connections closed and opened again (the last close checkpoints and removes -wal and
    -shm, the next open makes them anew), from other processes than the copy's."""
    db = _ledger_db(tmp_path / "busy.db")
    log = tmp_path / "ledger.log"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log), "0.003", "wal"],
        stdout=subprocess.PIPE,
        text=True,
    )
    checkpointer = subprocess.Popen(
        [sys.executable, "-c", _RECONNECTING_CHECKPOINTER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    readings: list[tuple[int, int] | str] = []
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        assert checkpointer.stdout is not None
        assert checkpointer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 90
        attempt = 0
        while len(readings) < 25 and time.monotonic() < deadline:
            attempt += 1
            dest = tmp_path / f"copy-{attempt}.db"
            if converge_wal(db, dest, 0.2, no_progress, CancelToken()) is not None:
                readings.append(copy_reading(dest))
            dest.unlink(missing_ok=True)
    finally:
        for proc in (writer, checkpointer):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert len(readings) >= 5, f"only {len(readings)} converged copies in {attempt} attempts"
    judge_ledger_copies(db, readings, {int(line) for line in log.read_text().split()} | {0})


# Cycles PASSIVE, RESTART and TRUNCATE checkpoints, its connection closed and opened again
# every few (run as a script: python -c ... DB).
_RECONNECTING_CHECKPOINTER = """
import signal, sqlite3, sys
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
modes, done = ("passive", "restart", "truncate"), 0
conn = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
print("ready", flush=True)
while running:
    try:
        conn.execute(f"pragma wal_checkpoint({modes[done % 3]})").fetchall()
    except sqlite3.OperationalError:
        pass
    done += 1
    if done % 5 == 0:
        conn.close()
        conn = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
conn.close()
"""
