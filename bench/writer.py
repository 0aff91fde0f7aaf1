"""A writer process for the benchmarks: one small transaction every INTERVAL seconds.

Usage: python writer.py DB INTERVAL OUT [PAYLOAD_BYTES [COMMITS]]. On SIGTERM (or after
COMMITS commits) it writes "start_time latency" lines (wall-clock seconds) for every
commit to OUT, so the benchmark can pick the commits that happened during a snapshot.
PAYLOAD_BYTES (default 100) is the size of each row's random payload.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time


def main() -> None:
    path, interval, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    payload = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    commits = int(sys.argv[5]) if len(sys.argv) > 5 else None
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute(
        "create table if not exists writer_log(id integer primary key, at real, payload blob)"
    )
    samples: list[tuple[float, float]] = []
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while running and (commits is None or len(samples) < commits):
        wall = time.time()
        started = time.perf_counter()
        conn.execute(
            "insert into writer_log(at, payload) values (?, ?)", (wall, os.urandom(payload))
        )
        samples.append((wall, time.perf_counter() - started))
        if interval:
            time.sleep(interval)
    with open(out, "w") as fh:
        fh.writelines(f"{w:.6f} {lat:.6f}\n" for w, lat in samples)


if __name__ == "__main__":
    main()
