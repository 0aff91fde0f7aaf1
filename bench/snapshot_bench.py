"""Snapshot benchmark: `lifeboat backup` against `cp` + `zstd -3 -T0` and `sqlite3 .backup`.

Builds (once, cached in bench/out/) a realistic WAL database of --size-mb, warms the page
cache, then runs each contender --rounds times interleaved and reports medians and the
ratio lifeboat / (cp + zstd). Then measures a concurrent writer's commit latency (one
commit every 5 ms) during a snapshot, for a WAL database and for the same database in
rollback-journal mode, and the peak RSS of the lifeboat process.

Usage: python bench/snapshot_bench.py [--size-mb 1024] [--rounds 3] [--full]
Goals (issue 3): snapshot time <= 1.3x (cp then zstd -3 -T0); writer p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    WriterProcess,
    drop_file,
    latency_summary,
    lifeboat_env,
    median,
    need_tools,
    report,
    run_timed,
    warm,
)
from bench.dbgen import bench_database


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--full",
        action="store_true",
        help="every round takes a whole snapshot (backup --full); without it, rounds after "
        "the first are differentials of an unchanged database",
    )
    parser.add_argument(
        "--baseline-app",
        type=Path,
        help="also time `lifeboat backup` from this app folder (e.g. another checkout's "
        "app/) in the same rounds, on its own source home: a before/after in one run",
    )
    args = parser.parse_args()
    need_tools("zstd", "sqlite3", "cp")
    work, db = bench_database("snapshot", args.size_mb, "source.db")
    size = db.stat().st_size
    home = work / "home"
    env = lifeboat_env(home)
    subprocess.run(
        [sys.executable, "-m", "lifeboat", "source", "add", str(db), "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
    )

    times: dict[str, list[float]] = {"lifeboat": [], "cp+zstd": [], "sqlite3 .backup": []}
    baseline_env = None
    if args.baseline_app is not None:
        baseline_env = {
            **lifeboat_env(work / "baseline-home"),
            "PYTHONPATH": str(args.baseline_app),
        }
        subprocess.run(
            [sys.executable, "-m", "lifeboat", "source", "add", str(db), "--name", "bench"],
            env=baseline_env,
            check=True,
            capture_output=True,
        )
        times["baseline lifeboat"] = []
    rss: list[int] = []
    memory: dict[str, int] = {}
    for round_no in range(args.rounds):
        warm(db)
        copy, packed, dot_backup = work / "cp.db", work / "cp.db.zst", work / "dot.db"
        t_cp, _ = run_timed(["cp", str(db), str(copy)])
        t_zstd, _ = run_timed(["zstd", "-3", "-T0", "-q", "-f", str(copy), "-o", str(packed)])
        times["cp+zstd"].append(t_cp + t_zstd)
        for p in (copy, packed):
            p.unlink()
        warm(db)
        backup = [sys.executable, "-m", "lifeboat", "backup", "bench"]
        t_lb, peak = run_timed(backup + (["--full"] if args.full else []), env=env, memory=memory)
        times["lifeboat"].append(t_lb)
        rss.append(peak)
        if baseline_env is not None:
            warm(db)
            full = ["--full"] if args.full else []
            times["baseline lifeboat"].append(run_timed(backup + full, env=baseline_env)[0])
        warm(db)
        t_dot, _ = run_timed(["sqlite3", str(db), f".backup {dot_backup}"])
        times["sqlite3 .backup"].append(t_dot)
        dot_backup.unlink()
        baseline = times.get("baseline lifeboat", [])
        print(
            f"round {round_no + 1}: lifeboat {t_lb:.2f} s, cp+zstd {t_cp + t_zstd:.2f} s "
            f"(cp {t_cp:.2f}), sqlite3 .backup {t_dot:.2f} s"
            + (f", baseline lifeboat {baseline[-1]:.2f} s" if baseline else ""),
            flush=True,
        )
    ratios = [lb / base for lb, base in zip(times["lifeboat"], times["cp+zstd"], strict=True)]
    baseline_ratios = [
        lb / base
        for lb, base in zip(times.get("baseline lifeboat", []), times["cp+zstd"], strict=False)
    ]

    checkpoints = {"lifeboat": checkpoint_waits(db, env, work, "bench", "lifeboat")}
    if baseline_env is not None:
        checkpoints["baseline lifeboat"] = checkpoint_waits(
            db, baseline_env, work, "bench", "baseline"
        )
    writer = {"wal": writer_latency(db, env, work, "bench", "wal")}
    rollback = work / "rollback.db"
    with sqlite3.connect(db) as src, sqlite3.connect(rollback) as dst:
        src.backup(dst)
        dst.execute("pragma journal_mode=delete")
    subprocess.run(
        [sys.executable, "-m", "lifeboat", "source", "add", str(rollback), "--name", "rollback"],
        env=env,
        check=True,
        capture_output=True,
    )
    writer["rollback"] = writer_latency(rollback, env, work, "rollback", "rollback")
    drop_file(rollback)

    report(
        "snapshot_bench",
        {
            "database_bytes": size,
            "rounds": args.rounds,
            "lifeboat_rounds": "full" if args.full else "first full, then differentials",
            "median_seconds": {k: round(median(v), 3) for k, v in times.items()},
            "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "ratio_lifeboat_over_cp_zstd": {
                "median": round(median(ratios), 3),
                "per_round": [round(r, 3) for r in ratios],
            },
            "baseline_ratio_over_cp_zstd": {
                "median": round(median(baseline_ratios), 3) if baseline_ratios else None,
                "per_round": [round(r, 3) for r in baseline_ratios],
            },
            "lifeboat_peak_rss_mb": round(max(rss) / 1024, 1),
            "lifeboat_peak_anon_rss_mb": round(memory.get("anon_kb", 0) / 1024, 1),
            "writer_every_5ms": writer,
            "app_checkpointing_every_50ms": checkpoints,
        },
    )


def checkpoint_waits(
    db: Path, env: dict[str, str], work: Path, name: str, label: str, snapshots: int = 3
) -> dict[str, object]:
    """An app committing and checkpointing (TRUNCATE, busy timeout 1 s) every 50 ms
    (bench/checkpoint_app.py) during `snapshots` full snapshots of `name`: its longest
    checkpoint, how many SQLite gave up on, and how long each snapshot held its read
    transaction (the manifest's copy_locked_ms for wal-scratch copies)."""
    out = work / f"checkpoints-{label}.txt"
    app = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "checkpoint_app.py"),
            str(db),
            "0.05",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    windows, copies = [], []
    try:
        time.sleep(1.0)  # the app alone first
        for _ in range(snapshots):
            warm(db)
            started = time.time()
            run_timed([sys.executable, "-m", "lifeboat", "backup", name, "--full"], env=env)
            windows.append((started, time.time()))
            copies.append(_last_copy(env, name))
            time.sleep(0.3)
    finally:
        app.terminate()
        app.wait(timeout=60)
    rows = [line.split() for line in out.read_text().splitlines() if line.strip()]
    samples = [(float(a), float(b), int(c)) for a, b, c in rows]
    inside = [s for s in samples if any(a <= s[0] <= b for a, b in windows)]
    alone = [s for s in samples if s[0] < windows[0][0]]
    for copy, (a, b) in zip(copies, windows, strict=True):
        mine = [s for s in samples if a <= s[0] <= b]  # which snapshot made them wait
        copy["longest_checkpoint_ms"] = round(max((s[1] for s in mine), default=0.0) * 1000, 1)
        copy["failed_checkpoints"] = sum(1 for s in mine if s[2] != 0)
    return {
        "checkpoints_during_snapshots": len(inside),
        "longest_during_ms": round(max((s[1] for s in inside), default=0.0) * 1000, 1),
        "failed_during": sum(1 for s in inside if s[2] != 0),
        "longest_alone_ms": round(max((s[1] for s in alone), default=0.0) * 1000, 1),
        "snapshots": copies,
    }


def writer_latency(
    db: Path, env: dict[str, str], work: Path, name: str, label: str
) -> dict[str, object]:
    """Commit latency of a writer (every 5 ms) idle and during one snapshot of `name`."""
    warm(db)
    writer = WriterProcess(db, 0.005, work / f"writer-{label}.txt")
    try:
        time.sleep(1.0)
        idle_start = time.time() - 1.0
        idle_end = time.time()
        started = time.time()
        took, _ = run_timed([sys.executable, "-m", "lifeboat", "backup", name], env=env)
        ended = time.time()
        time.sleep(0.5)
    finally:
        samples = writer.stop()
    strategy = _last_strategy(env, name)
    return {
        "snapshot_seconds": round(took, 3),
        "copy_strategy": strategy,
        "idle": latency_summary(samples, idle_start, idle_end),
        "during_snapshot": latency_summary(samples, started, ended),
    }


def _last_strategy(env: dict[str, str], name: str) -> str:
    return str(_last_copy(env, name)["copy_strategy"])


def _last_copy(env: dict[str, str], name: str) -> dict[str, object]:
    """How the newest snapshot of `name` was copied: its strategy and lock hold."""
    import json

    out = subprocess.run(
        [sys.executable, "-m", "lifeboat", "snapshots", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(json.loads(out)[0]["path"])
    # The manifest is the artifact's stem (no dots in it) plus .json, whatever its kind
    # (.sqlite.zst, .diff.zst, with .age when sealed).
    stem = path.name.split(".", 1)[0]
    manifest = json.loads(path.with_name(stem + ".json").read_text())
    return {
        "copy_strategy": manifest.get("copy_strategy"),
        "copy_locked_ms": manifest.get("copy_locked_ms"),
        "seconds": manifest.get("duration_s"),
    }


if __name__ == "__main__":
    main()
