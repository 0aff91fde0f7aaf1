"""An app that checkpoints its own WAL database, as some do: a small commit, then
`pragma wal_checkpoint(TRUNCATE)` with a 1 s busy timeout, every INTERVAL seconds.

Usage: python checkpoint_app.py DB INTERVAL OUT. Prints "ready"; on SIGTERM writes one
"start_time seconds busy" line per checkpoint to OUT (wall-clock start; how long the call
took; busy 0 = done, 1 = SQLite gave up on it (a reader kept it from finishing), 2 = it
raised). Issue 20: Lifeboat must never make such a checkpoint fail or wait long.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
import time


def main() -> None:
    path, interval, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)  # busy_timeout 1000 ms
    conn.execute("create table if not exists app_log(id integer primary key, at real)")
    samples: list[tuple[float, float, int]] = []
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while running:
        wall = time.time()
        conn.execute("insert into app_log(at) values (?)", (wall,))
        started = time.perf_counter()
        try:
            busy = int(conn.execute("pragma wal_checkpoint(truncate)").fetchone()[0])
        except sqlite3.OperationalError:
            busy = 2
        samples.append((wall, time.perf_counter() - started, busy))
        time.sleep(interval)
    with open(out, "w") as fh:
        fh.writelines(f"{w:.6f} {s:.6f} {b}\n" for w, s, b in samples)


if __name__ == "__main__":
    main()
