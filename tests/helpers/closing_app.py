"""An app that commits to its WAL database, then closes its last connection when told.

Usage: python closing_app.py DB MAX_DELAY_S SEED. Commits batches of rows with automatic
checkpoints off (so its WAL holds them all and its close has a checkpoint to do), prints
the SHA-256 of what it committed, then waits for a line on stdin; after a random delay
(0 to MAX_DELAY_S, from SEED: a random moment of the copy that started meanwhile) it
closes the connection (the last one: SQLite checkpoints and deletes the -wal if it can
lock the file exclusively), prints "closed BEGAN ENDED" (time.monotonic()) and exits.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import sys
import time


def committed_digest(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for row in conn.execute("select id, name, payload from items order by id"):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def main() -> None:
    path, max_delay, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    chance = random.Random(seed)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma wal_autocheckpoint=0")
    conn.execute(
        "create table if not exists items(id integer primary key, name text, payload blob)"
    )
    for batch in range(40):
        with conn:
            conn.execute("begin")
            conn.executemany(
                "insert into items(name, payload) values (?, ?)",
                [(f"b{batch}", chance.randbytes(2000)) for _ in range(50)],
            )
    print(committed_digest(conn), flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + chance.uniform(0, max_delay)
    while time.monotonic() < deadline:  # a busy wait: a sleep's wake-up is coarser
        pass
    began = time.monotonic()  # the same clock as the test's (CLOCK_MONOTONIC)
    conn.close()
    print(f"closed {began} {time.monotonic()}", flush=True)


if __name__ == "__main__":
    main()
