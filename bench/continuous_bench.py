"""Continuous capture (issue 20) against Litestream 0.5, in the same run.

    PYTHONPATH=$PWD/app python -m bench.continuous_bench [--size-mb 1024] [--quick]

On a copy of the bench database (bench/dbgen.py), with a writer committing `--rate`
transactions a second of `--payload`-byte rows (bench/writer.py):
- steady state, three times (no capture, Lifeboat's follower, `litestream replicate`
  to a file replica): the capturing process's CPU (% of one core), the writer's commit
  p99, the recovery point p99 (commit -> captured: for Lifeboat, the end of the first
  poll that started after the commit and wrote a segment; for Litestream, the first
  replica file that appeared after it), the WAL's largest size and how often the app's checkpoints
  restarted it, peak RSS; also what starting took (Lifeboat's base snapshot,
  Litestream's first snapshot);
- "an hour of writes" (`--hour-commits` at `--hour-rate`, faster than real time; flat
  out by default, where the app's WAL restarts faster than a poll and Lifeboat merges
  commits: the follower's figures say how many) after each contender's base, then a
  restore to the last point: Lifeboat's rebuild vs `litestream restore -timestamp`,
  each against `zstd -d` of a full artifact of the same database;
  wall time and peak RSS; the history's size (base + segments) vs Litestream's replica.
The machine may be shared: the figures are what this run measured (see `--help`).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    OUT,
    WriterProcess,
    latency_summary,
    need_tools,
    percentile,
    report,
    run_timed,
)
from bench.continuous_contenders import (
    Lifeboat,
    Litestream,
    WalWatch,
    cpu_seconds,
    env,
    recovery_files,
    recovery_lifeboat,
)
from bench.dbgen import bench_database


def steady(work: Path, db: Path, contender: str | None, args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    root = work / f"steady-{contender or 'none'}"
    root.mkdir()
    running: Lifeboat | Litestream | None = None
    if contender == "lifeboat":
        running = Lifeboat(root, db, args.poll)
    elif contender == "litestream":
        running = Litestream(root, db)
    watch = WalWatch(db)
    writer = WriterProcess(db, 1 / args.rate, root / "writer.txt", payload=args.payload)
    time.sleep(2)  # warm up
    cpu0 = cpu_seconds(running.proc.pid) if running else 0.0
    t0 = time.time()
    time.sleep(args.steady_seconds)
    t1 = time.time()
    cpu1 = cpu_seconds(running.proc.pid) if running else 0.0
    samples = writer.stop()
    result: dict[str, object] = {"writer": latency_summary(samples, t0, t1), **watch.stop()}
    result["commits_per_s"] = round(len([s for s in samples if t0 <= s[0] <= t1]) / (t1 - t0), 1)
    if running is not None:
        result["cpu_percent_of_a_core"] = round(100 * (cpu1 - cpu0) / (t1 - t0), 2)
        result["start_s"] = round(running.start_s, 2)
        result["start_cpu_s"] = round(running.start_cpu_s, 2)
        steady_samples = [s for s in samples if t0 <= s[0] <= t1]
        if isinstance(running, Lifeboat):
            recovery = recovery_lifeboat(steady_samples, running.stop())
            result["follower"] = _follower_figures(running.status)
        else:
            recovery = recovery_files(steady_samples, running.stop())
        result["peak_rss_mb"] = round(running.peak_rss_mb, 1)
        result["recovery_p50_s"] = round(percentile(recovery, 50), 3)
        result["recovery_p99_s"] = round(percentile(recovery, 99), 3)
    return result


def _tree_size(folder: Path, suffixes: tuple[str, ...] = ()) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and (not suffixes or path.name.endswith(suffixes)):
            total += path.stat().st_size
    return total


def hour(work: Path, db: Path, contender: str, args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """`--hour-commits` written at full speed after the contender's base; then a restore
    to the last point, against `zstd -d` of a full artifact of the same database."""
    root = work / f"hour-{contender}"
    root.mkdir()
    copy = root / "bench.db"
    subprocess.run(["cp", "--sparse=never", str(db), str(copy)], check=True)
    running = Lifeboat(root, copy, args.poll) if contender == "lifeboat" else Litestream(root, copy)
    started = time.perf_counter()
    writer = WriterProcess(
        copy,
        1 / args.hour_rate if args.hour_rate else 0,
        root / "writer.txt",
        payload=args.payload,
        commits=args.hour_commits,
    )
    samples = writer.finish()
    write_s = time.perf_counter() - started
    result: dict[str, object] = {"commits": len(samples), "write_s": round(write_s, 1)}
    result["commits_per_s"] = round(len(samples) / write_s)
    if isinstance(running, Lifeboat):
        time.sleep(2)  # then its last poll (on SIGTERM) takes what is left
        result["capture_cpu_s"] = round(cpu_seconds(running.proc.pid) - running.start_cpu_s, 2)
        polls = running.stop()
        result["follower"] = _follower_figures(running.status)
        target = datetime.fromtimestamp(max(p[1] for p in polls if p[2]), UTC)
        out = root / "restored.db"
        wall, rss = _best_of_two(
            [
                sys.executable,
                "-m",
                "bench.continuous_contenders",
                "restore",
                str(root),
                str(copy),
                target.isoformat(),
                str(out),
            ],
            out,
            env=env(),
        )
        folder = root / "snapshots" / "notes"
        result["history_mb"] = round(_tree_size(folder) / (1 << 20), 1)
        result["segments_mb"] = round(_tree_size(folder, (".seg.zst",)) / (1 << 20), 1)
    else:
        time.sleep(2.5)  # two sync intervals: the last commits reach the replica
        target = datetime.now(UTC)
        running.proc.send_signal(signal.SIGTERM)
        running.proc.wait(timeout=60)
        result["capture_cpu_s"] = "n/a (process ended)"
        out = root / "restored.db"
        wall, rss = _best_of_two(
            [
                "litestream",
                "restore",
                "-config",
                str(running.config),
                "-o",
                str(out),
                "-timestamp",
                target.strftime("%Y-%m-%dT%H:%M:%SZ"),
                str(copy),
            ],
            out,
        )
        result["history_mb"] = round(_tree_size(running.replica) / (1 << 20), 1)
    result["restore_s"] = round(wall, 2)
    result["restore_peak_rss_mb"] = round(rss / 1024, 1)
    result["restored_rows"] = _rows(out)
    result["live_rows"] = _rows(copy)
    result["zstd_d_s"] = round(_zstd_baseline(root, copy), 2)
    result["restore_vs_zstd_d"] = round(wall / max(float(result["zstd_d_s"]), 1e-6), 2)
    return result


def _follower_figures(status: dict[str, object]) -> dict[str, object]:
    keys = ("commits", "segments", "catch_ups", "merged", "held_reads", "unsettled_polls")
    return {key: status[key] for key in keys} | {"compactions": status["compactions"]}


def _rows(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("select count(*) from writer_log").fetchone()[0])
    finally:
        conn.close()


def _zstd_baseline(root: Path, db: Path) -> float:
    artifact = root / "full.sqlite.zst"
    subprocess.run(["zstd", "-q", "-3", "-T0", "-f", str(db), "-o", str(artifact)], check=True)
    out = root / "zstd-d.db"
    wall, _ = _best_of_two(["zstd", "-q", "-d", "-f", str(artifact), "-o", str(out)], out)
    out.unlink()
    return wall


def _best_of_two(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """The faster of two runs (a shared machine's page cache and neighbours vary); the
    output of the second is kept."""
    first = run_timed(cmd, env=env)
    out.unlink()
    second = run_timed(cmd, env=env)
    return min(first[0], second[0]), max(first[1], second[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rate", type=float, default=100.0, help="commits a second")
    parser.add_argument("--payload", type=int, default=3000, help="bytes of each row")
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    parser.add_argument("--hour-commits", type=int, default=360_000)
    parser.add_argument(
        "--hour-rate",
        type=float,
        default=0.0,
        help="commits a second for the hour (0: flat out; the WAL then restarts faster "
        "than a poll, so Lifeboat merges commits: say 1000 to keep every one)",
    )
    parser.add_argument(
        "--poll", type=float, default=0.15, help="Lifeboat's poll interval (the host's default)"
    )
    parser.add_argument("--quick", action="store_true", help="64 MB, 10 s, 20000 commits")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.steady_seconds, args.hour_commits = 64, 10.0, 20_000
    need_tools("zstd", "litestream")
    work, db = bench_database("continuous", args.size_mb, "bench.db")
    results: dict[str, object] = {
        "size_mb": args.size_mb,
        "rate": args.rate,
        "payload": args.payload,
        "note": "a shared machine: figures of this run only",
    }
    for contender in (None, "lifeboat", "litestream"):
        results[f"steady_{contender or 'none'}"] = steady(work, db, contender, args)
        print(json.dumps(results[f"steady_{contender or 'none'}"]), flush=True)
    for contender in ("lifeboat", "litestream"):
        results[f"hour_{contender}"] = hour(work, db, contender, args)
        print(json.dumps(results[f"hour_{contender}"]), flush=True)
    report("continuous", results)
    print(f"(also in {OUT / 'continuous.json'})")


if __name__ == "__main__":
    main()
