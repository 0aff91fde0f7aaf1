"""Continuous protection of a rollback-journal database (issue 20): the app's writer stalls.

    PYTHONPATH=$PWD/app python -m bench.journal_bench [--size-mb 256] [--captures 5]

A rollback-journal copy of the bench database (bench/dbgen.py, journal_mode=DELETE), a
writer process committing a small row every `--interval` seconds (bench/writer.py), and
`lifeboat run` with the source continuously protected (`--continuous-every 1s`): each
differential is today's stepped copy (core/dbcopy.py). Reports the writer's commit
latency (p50, p99, max: the longest the app was kept waiting) during the differentials,
outside them, and with no Lifeboat running; how long each differential's job took, and
what the copy did (stepped, or stepped then a final pass holding the read lock).
The issue 22 goal for the stall is <= 250 ms at 1 GiB. Figures: bench/out/journal.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.common import WriterProcess, latency_summary, lifeboat_env, report
from bench.dbgen import build_database


def lifeboat(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lifeboat", *args],
        env=lifeboat_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def continuous_jobs(home: Path) -> list[dict[str, object]]:
    jobs = json.loads(lifeboat(home, "jobs", "--json", "--limit", "500"))
    return [j for j in jobs if j["trigger"] == "continuous" and j["kind"] == "backup"]


def seconds(text: object) -> float:
    return datetime.fromisoformat(str(text)).timestamp()


def copy_records(folder: Path) -> list[dict[str, object]]:
    """Each snapshot's copy strategy and lock time, from its manifest, oldest first."""
    records = []
    for manifest in sorted(folder.glob("*.json")):
        data = json.loads(manifest.read_text())  # its extra keys are at the top level
        records.append(
            {
                "kind": data.get("kind"),
                "strategy": data.get("copy_strategy"),
                "locked_ms": data.get("copy_locked_ms"),
                "locked_at": data.get("copy_locked_at"),
                "holds": data.get("copy_lock_holds"),
            }
        )
    return records


def long_waits(
    samples: list[tuple[float, float]], copies: list[dict[str, object]], over_s: float = 0.05
) -> list[dict[str, object]]:
    """Where each commit that waited over `over_s` spent it: how much of its wait fell
    inside a copy's locked window, and how long it still waited after the lock was
    released (SQLite's busy-handler back-off: it sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25,
    50, 50, 100 ms between tries, so it wakes up to 100 ms after the lock is gone)."""
    windows = []
    for c in copies:
        holds = c.get("holds") or [[c.get("locked_at"), c.get("locked_ms")]]
        for at, ms in holds if isinstance(holds, list) else []:
            if at is not None and ms is not None:
                windows.append((float(at), float(at) + float(ms) / 1000))
    waits = []
    for began, latency in samples:
        if latency <= over_s:
            continue
        ended = began + latency
        hit = [(a, b) for a, b in windows if a < ended and b > began]
        row: dict[str, object] = {"wait_ms": round(latency * 1000, 1)}
        if hit:
            a, b = hit[0]
            row["lock_ms"] = round((b - a) * 1000, 1)
            row["waited_in_lock_ms"] = round((min(b, ended) - max(a, began)) * 1000, 1)
            row["waited_after_release_ms"] = round(max(0.0, ended - b) * 1000, 1)
        else:
            row["lock_ms"] = None  # not our lock: the disk, the CPU, the app itself
        waits.append(row)
    return sorted(waits, key=lambda r: -float(str(r["wait_ms"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--captures", type=int, default=5, help="differentials to measure")
    parser.add_argument("--interval", type=float, default=0.01, help="between commits (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lb-journal-") as tmp:
        base = Path(tmp)
        home, db = base / "home", base / "notes.db"
        build_database(db, args.size_mb << 20, wal=False)
        lifeboat(home, "source", "add", str(db), "--name", "notes", "--schedule", "manual")
        lifeboat(home, "backup", "notes")  # the full base the differentials build on

        quiet = WriterProcess(db, args.interval, base / "quiet.txt")
        began = time.time()
        time.sleep(5)  # a fixed baseline window: what the writer does alone
        alone = latency_summary(quiet.stop(), began, time.time())

        lifeboat(home, "source", "set", "notes", "--continuous", "--continuous-every", "1s")
        writer = WriterProcess(db, args.interval, base / "writer.txt")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "lifeboat", "run"],
            env=lifeboat_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while len([j for j in continuous_jobs(home) if j["finished_at"]]) < args.captures:
                time.sleep(0.5)
        finally:
            samples = writer.stop()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
        jobs = [j for j in continuous_jobs(home) if j["finished_at"] and j["started_at"]]
        copies = copy_records(home / "snapshots" / "notes")
        windows = [(seconds(j["started_at"]), seconds(j["finished_at"])) for j in jobs]
        inside = [s for s in samples if any(a <= s[0] <= b for a, b in windows)]
        outside = [s for s in samples if not any(a <= s[0] <= b for a, b in windows)]
        data = {
            "size_mb": args.size_mb,
            "db_bytes": db.stat().st_size,
            "commit_every_s": args.interval,
            "writer_alone": alone,
            "during_differentials": latency_summary(inside, 0, float("inf")),
            "between_differentials": latency_summary(outside, 0, float("inf")),
            # what each snapshot's copy did and how long it held the shared lock (the
            # converging copy's last pass: the only time it keeps the writer waiting)
            "copies": copies,
            "longest_lock_ms": max((c["locked_ms"] or 0 for c in copies), default=None),
            # every commit that waited over 50 ms, and whether our lock was the cause
            "long_waits": long_waits(samples, copies),
            "differentials": [
                {
                    "seconds": round(b - a, 3),
                    "status": j["status"],
                    "detail": j.get("detail"),
                }
                for (a, b), j in zip(windows, jobs, strict=True)
            ],
        }
    report("journal", data)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
