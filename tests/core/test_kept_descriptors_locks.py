"""Reading many other files never closes a kept descriptor of a file that is still there:
closing it would drop the SQLite locks another connection of this process holds on it
(here, a read transaction's WAL read lock on the -shm). Real SQLite, a real second process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.core.kept_descriptors import UNPINNED_KEPT, read_start
from lifeboat.core.wal_direct import frozen_wal


def test_a_read_transactions_lock_survives_reading_many_other_files(tmp_path: Path):
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table t(id integer primary key, v int, pad blob)")
    conn.execute("begin")
    for _ in range(500):
        conn.execute("insert into t(v, pad) values (0, randomblob(2000))")
    conn.execute("commit")
    conn.execute("pragma wal_checkpoint(truncate)")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("begin")
    assert reader.execute("select sum(v) from t").fetchone()[0] == 0
    with frozen_wal(db, 5.0):  # a snapshot read straight from the file: keeps the -shm
        pass
    for i in range(UNPINNED_KEPT + 10):  # the journal watch reading other sources
        other = tmp_path / f"other{i}.db"
        other.write_bytes(b"SQLite format 3\0" + bytes(84))
        read_start(other, 100)
    app = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "w = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.5)\n"
            "w.execute('update t set v = 1')\n"
            "print(w.execute('pragma wal_checkpoint(truncate)').fetchone()[0])\n",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert app.returncode == 0, app.stderr
    assert app.stdout.strip() == "1", "the app's truncate got past our reader's lock"
    # The reader's transaction still sees what it began with.
    assert reader.execute("select sum(v) from t").fetchone()[0] == 0
    reader.execute("commit")
