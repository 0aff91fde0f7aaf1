"""Restore benchmark: `lifeboat restore --to` and in place, against plain `zstd -d`.

Uses the snapshot benchmark's cached database (bench/out/bench-<size>mb.db, built if
missing), takes one snapshot of it, then runs --rounds rounds of, in this order:
`zstd -d` of the artifact, `lifeboat restore ID --to NEW --yes` (hash, decompress,
integrity check, fsync, rename), `lifeboat diff ID --live` (the restore preview: hash,
decompress, compare with the live database) and `lifeboat restore ID --yes` in place
(verify, a protected safety snapshot of the current database, then SQLite's backup API
into it). Peak RSS is each command's ru_maxrss (file pages it maps count too); CPU
seconds are its user + system time (steadier than wall time on a loaded machine).

Usage: python bench/restore_bench.py [--size-mb 1024] [--rounds 3]
Goals (issue 22): --to <= 1.3x zstd -d, verification included; in place <= 3x;
diff --live <= 0.8x --to; peak RSS <= 200 MB whatever the size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import lifeboat_env, median, need_tools, report, warm
from bench.dbgen import bench_database


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    need_tools("zstd")
    work, db = bench_database("restore", args.size_mb, "live.db")
    env = lifeboat_env(work / "home")
    lifeboat = [sys.executable, "-m", "lifeboat"]
    subprocess.run(
        [*lifeboat, "source", "add", str(db), "--name", "bench", "--keep", "last=100"],
        env=env,
        check=True,
        capture_output=True,
    )
    snap = json.loads(
        subprocess.run(
            [*lifeboat, "backup", "bench", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    artifact = Path(snap["path"])
    plain, new = work / "plain.db", work / "new.db"
    contenders = {
        "zstd -d": (["zstd", "-d", "-q", "-f", str(artifact), "-o", str(plain)], None, plain),
        "restore --to": ([*lifeboat, "restore", snap["id"], "--to", str(new), "--yes"], env, new),
        "diff --live": ([*lifeboat, "diff", snap["id"], "--live"], env, None),
        "restore in place": ([*lifeboat, "restore", snap["id"], "--yes"], env, None),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    rss: dict[str, int] = {}
    for round_no in range(args.rounds):
        for name, (cmd, cmd_env, output) in contenders.items():
            warm(artifact)
            wall, seconds, peak = measure(cmd, cmd_env)
            if output is not None:
                output.unlink()
            times[name].append(wall)
            cpu[name].append(seconds)
            rss[name] = max(rss.get(name, 0), peak)
        print(
            f"round {round_no + 1}: "
            + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in contenders),
            flush=True,
        )
    report("restore_bench", summary(snap, times, cpu, rss))


def measure(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float, int]:
    """Run a command: (wall seconds, CPU seconds user + system, peak RSS in KB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd!r} failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)


def _ratio(over: list[float], under: list[float]) -> dict[str, object]:
    per_round = [a / b for a, b in zip(over, under, strict=True)]
    return {"median": round(median(per_round), 3), "per_round": [round(r, 3) for r in per_round]}


def summary(
    snap: dict[str, object],
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    rss: dict[str, int],
) -> dict[str, object]:
    zstd = times["zstd -d"]
    return {
        "database_bytes": snap["db_size"],
        "artifact_bytes": snap["size"],
        "load_average_1min": round(os.getloadavg()[0], 2),
        "median_seconds": {k: round(median(v), 3) for k, v in times.items()},
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_cpu_seconds": {k: round(median(v), 3) for k, v in cpu.items()},
        "ratio_to_over_zstd_d": _ratio(times["restore --to"], zstd),
        "ratio_in_place_over_zstd_d": _ratio(times["restore in place"], zstd),
        "ratio_diff_live_over_restore_to": _ratio(times["diff --live"], times["restore --to"]),
        "peak_rss_mb": {k: round(v / 1024, 1) for k, v in rss.items()},
        "note": "in place includes the protected safety snapshot of the current database; "
        "on a loaded machine compare the per-round ratios and the CPU seconds",
    }


if __name__ == "__main__":
    main()
