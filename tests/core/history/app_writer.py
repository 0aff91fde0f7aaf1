"""An application for the capture tests (run as a script): commits at random.

Usage: python app_writer.py DB LOG COMMITS INTERVAL_S CHAOS SEED

Each commit inserts, updates or deletes a row of `items` and sets `meta.k` to its number
k, so a restored database says which commit it is. With CHAOS > 0, after a commit it
forces `wal_checkpoint(TRUNCATE)` or `(RESTART)` with that probability. LOG gets one
line per commit: `k start end op id` (wall-clock seconds; start is before BEGIN) and
`checkpoint MODE` lines. Prints "ready" once the tables exist, "done" at the end.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time


def payload(k: int) -> bytes:
    return (f"commit-{k}-".encode() * 40)[:300]


def main() -> None:
    db, log_path, commits, interval, chaos, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table if not exists items(id integer primary key, v blob)")
    conn.execute("create table if not exists meta(k integer)")
    if conn.execute("select count(*) from meta").fetchone()[0] == 0:
        conn.execute("insert into meta values (0)")
    ids: list[int] = [r[0] for r in conn.execute("select id from items")]
    next_id = max(ids, default=0) + 1
    print("ready", flush=True)
    with open(log_path, "a") as log:
        for k in range(1, int(commits) + 1):
            started = time.time()
            roll = rng.random()
            conn.execute("begin immediate")
            if roll < 0.7 or not ids:
                op, row = "insert", next_id
                conn.execute("insert into items values (?, ?)", (row, payload(k)))
                ids.append(row)
                next_id += 1
            elif roll < 0.9:
                op, row = "update", rng.choice(ids)
                conn.execute("update items set v = ? where id = ?", (payload(k), row))
            else:
                op, row = "delete", ids.pop(rng.randrange(len(ids)))
                conn.execute("delete from items where id = ?", (row,))
            conn.execute("update meta set k = ?", (k,))
            conn.execute("commit")
            log.write(f"{k} {started:.6f} {time.time():.6f} {op} {row}\n")
            log.flush()
            if float(chaos) and rng.random() < float(chaos):
                mode = rng.choice(["TRUNCATE", "RESTART"])
                conn.execute(f"pragma wal_checkpoint({mode})").fetchone()
                log.write(f"checkpoint {mode}\n")
            time.sleep(float(interval))
    print("done", flush=True)
    sys.stdout.flush()
    time.sleep(3600)  # stay open (keeps the -wal) until the test ends it


if __name__ == "__main__":
    main()
