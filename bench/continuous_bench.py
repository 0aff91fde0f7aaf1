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
  restore to the last point: Lifeboat's restore (the rebuild with the source's
  quick_check, as a restore runs it; and, as measured before session 27, the rebuild
  alone) vs `litestream restore -timestamp`,
  each against `zstd -d` of a full artifact of the same database (and `zstd -d` then an
  fsync of its output, a second baseline), in `--restore-rounds` interleaved rounds
  (bench/rounds.py: os.sync() before each run, medians, ratios per round);
  wall time and peak RSS; the history's size (base + segments) vs Litestream's replica.
The machine may be shared: the figures are what this run measured (see `--help`).
"""

from __future__ import annotations

import argparse
import json
import os
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
    median,
    need_tools,
    percentile,
    report,
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
from bench.rounds import Contender, compile_app, interleaved_rounds, ratio, zstd_d, zstd_d_fsync


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
    unchecked: Contender | None = None
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
        restore = Contender(
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
            env(),
            out,
        )
        # The rebuild alone (no integrity check): the figure as measured before
        # session 27; `restore` is what a restore does (the source's quick_check too).
        alone = root / "unchecked.db"
        unchecked = Contender([*restore.cmd[:-1], str(alone), "none"], env(), alone)
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
        restore = Contender(
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
            None,
            out,
        )
        result["history_mb"] = round(_tree_size(running.replica) / (1 << 20), 1)
    result.update(_restore_rounds(root, copy, restore, args.restore_rounds, unchecked))
    result["live_rows"] = _rows(copy)
    return result


def _restore_rounds(
    root: Path, db: Path, restore: Contender, rounds: int, unchecked: Contender | None = None
) -> dict[str, object]:
    """The restore against `zstd -d` of a full artifact of the same database (the issue's
    baseline) and `zstd -d` then fsync of its output, in interleaved rounds
    (bench/rounds.py): medians, and the ratios per round; `unchecked` (Lifeboat's
    rebuild without its integrity check) too, if given."""
    artifact = root / "full.sqlite.zst"
    subprocess.run(["zstd", "-q", "-3", "-T0", "-f", str(db), "-o", str(artifact)], check=True)
    contenders = {
        "restore": restore,
        "zstd -d": zstd_d(artifact, root / "zstd-d.db"),
        "zstd -d + fsync": zstd_d_fsync(artifact, root / "zstd-d-synced.db"),
    }
    if unchecked is not None:
        contenders["restore without its check"] = unchecked
    runs = interleaved_rounds(contenders, rounds, (artifact,), keep_last=("restore",))
    wall = {name: r.wall for name, r in runs.items()}
    assert restore.output is not None
    restored_rows = _rows(restore.output)
    restore.output.unlink()
    if unchecked is not None:
        alone = wall["restore without its check"]
        figures: dict[str, object] = {
            "unchecked_restore_s": round(median(alone), 2),
            "unchecked_vs_zstd_d": ratio(alone, wall["zstd -d"]),
            "unchecked_vs_zstd_d_fsync": ratio(alone, wall["zstd -d + fsync"]),
        }
    else:
        figures = {}
    return figures | {
        "restore_s": round(median(wall["restore"]), 2),
        "restore_peak_rss_mb": round(runs["restore"].peak_rss_kb / 1024, 1),
        "restored_rows": restored_rows,
        "zstd_d_s": round(median(wall["zstd -d"]), 2),
        "zstd_d_fsync_s": round(median(wall["zstd -d + fsync"]), 2),
        "restore_vs_zstd_d": ratio(wall["restore"], wall["zstd -d"]),
        "restore_vs_zstd_d_fsync": ratio(wall["restore"], wall["zstd -d + fsync"]),
        "all_seconds": {k: [round(x, 2) for x in v] for k, v in wall.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


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
    parser.add_argument(
        "--restore-rounds", type=int, default=3, help="interleaved rounds of each restore"
    )
    parser.add_argument("--quick", action="store_true", help="64 MB, 10 s, 20000 commits")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.steady_seconds, args.hour_commits = 64, 10.0, 20_000
    need_tools("zstd", "litestream", "sync")
    compile_app()
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
