"""A separate process that writes to a database continuously (run as a script).

Usage: python writer.py DB INTERVAL_S [ROLLBACK]. Inserts one row per transaction every
INTERVAL_S seconds until killed; prints "ready" once the first row is committed and
records each commit's latency in DB.latency (one float per line, seconds) on exit.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time


def main() -> None:
    path, interval = sys.argv[1], float(sys.argv[2])
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute(
        "create table if not exists items(id integer primary key, name text, payload blob)"
    )
    latencies: list[float] = []
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    first = True
    while running:
        started = time.perf_counter()
        conn.execute("insert into items(name, payload) values (?, ?)", ("writer", os.urandom(64)))
        latencies.append(time.perf_counter() - started)
        if first:
            print("ready", flush=True)
            first = False
        time.sleep(interval)
    with open(path + ".latency", "w") as fh:
        fh.write("\n".join(f"{x:.6f}" for x in latencies))


if __name__ == "__main__":
    main()
