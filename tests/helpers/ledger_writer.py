"""A separate process that keeps changing a database all over its file, each
transaction leaving a checkable state (run as a script).

Usage: python ledger_writer.py DB LOG [PAUSE_S [JOURNAL_MODE]]. Each transaction
rewrites a few rows chosen at random across the whole `items` table (so its pages are
anywhere in the file), bumps their `version`, and adds as much to the single row of
`ledger`; then appends the new ledger total to LOG (one line per commit, flushed). Every
committed state therefore has sum(items.version) == ledger.total, and its total is a
line of LOG. Prints "ready" once the first transaction is committed; pauses PAUSE_S
(default 0.002) between transactions, as an app does (a writer that never pauses starves
every reader, a copy's brief locks included); keeps the database in JOURNAL_MODE
(default delete); runs until killed (SIGTERM).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import time


def main() -> None:
    path, log_path = sys.argv[1], sys.argv[2]
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.002
    mode = sys.argv[4] if len(sys.argv) > 4 else "delete"
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute(f"pragma journal_mode={mode}")
    conn.execute("create table if not exists ledger(id integer primary key, total integer)")
    conn.execute("insert or ignore into ledger(id, total) values (1, 0)")
    top = conn.execute("select max(rowid) from items").fetchone()[0]
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    rng = random.Random(7)
    first = True
    with open(log_path, "a", buffering=1) as log:
        while running:
            conn.execute("begin immediate")
            for row in rng.sample(range(1, top + 1), 4):
                conn.execute(
                    "update items set version = version + 1, payload = ? where rowid = ?",
                    (os.urandom(300), row),
                )
            conn.execute("update ledger set total = total + 4 where id = 1")
            total = conn.execute("select total from ledger").fetchone()[0]
            conn.execute("commit")
            log.write(f"{total}\n")
            if first:
                print("ready", flush=True)
                first = False
            time.sleep(pause)
    conn.close()


if __name__ == "__main__":
    main()
