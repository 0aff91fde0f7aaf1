"""Restore benchmark: `lifeboat restore --to` and in place, against plain `zstd -d`.

Uses the snapshot benchmark's cached database (bench/out/bench-<size>mb.db, built if
missing), takes one snapshot of it, then runs --rounds rounds of, in this order:
`zstd -d` of the artifact, `lifeboat restore ID --to NEW --yes` (hash, decompress,
integrity check, fsync, rename), `lifeboat diff ID --live` (the restore preview: hash,
decompress, compare with the live database) and `lifeboat restore ID --yes` in place
(verify, a protected safety snapshot of the current database, then SQLite's backup API
into it). Peak RSS is each command's ru_maxrss (file pages it maps count too).

Usage: python bench/restore_bench.py [--size-mb 1024] [--rounds 3]
Goals (issue 22): --to <= 1.3x zstd -d, verification included; in place <= 3x;
diff --live <= 0.8x --to; peak RSS <= 200 MB whatever the size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import lifeboat_env, median, need_tools, report, run_timed, warm
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
    times: dict[str, list[float]] = {
        "zstd -d": [],
        "restore --to": [],
        "diff --live": [],
        "restore in place": [],
    }
    rss: dict[str, int] = {}
    for round_no in range(args.rounds):
        plain, new = work / "plain.db", work / "new.db"
        warm(artifact)
        t_zstd, _ = run_timed(["zstd", "-d", "-q", "-f", str(artifact), "-o", str(plain)])
        plain.unlink()
        warm(artifact)
        t_to, peak_to = run_timed(
            [*lifeboat, "restore", snap["id"], "--to", str(new), "--yes"], env=env
        )
        new.unlink()
        warm(artifact)
        t_diff, peak_diff = run_timed([*lifeboat, "diff", snap["id"], "--live"], env=env)
        warm(artifact)
        t_in, peak_in = run_timed([*lifeboat, "restore", snap["id"], "--yes"], env=env)
        times["zstd -d"].append(t_zstd)
        times["restore --to"].append(t_to)
        times["diff --live"].append(t_diff)
        times["restore in place"].append(t_in)
        rss["to"] = max(rss.get("to", 0), peak_to)
        rss["in_place"] = max(rss.get("in_place", 0), peak_in)
        rss["diff_live"] = max(rss.get("diff_live", 0), peak_diff)
        print(
            f"round {round_no + 1}: zstd -d {t_zstd:.2f} s, --to {t_to:.2f} s, "
            f"diff --live {t_diff:.2f} s, in place {t_in:.2f} s",
            flush=True,
        )
    ratios = [to / z for to, z in zip(times["restore --to"], times["zstd -d"], strict=True)]
    in_place = [i / z for i, z in zip(times["restore in place"], times["zstd -d"], strict=True)]
    preview = [d / t for d, t in zip(times["diff --live"], times["restore --to"], strict=True)]
    report(
        "restore_bench",
        {
            "database_bytes": snap["db_size"],
            "artifact_bytes": snap["size"],
            "median_seconds": {k: round(median(v), 3) for k, v in times.items()},
            "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "ratio_to_over_zstd_d": {
                "median": round(median(ratios), 3),
                "per_round": [round(r, 3) for r in ratios],
            },
            "ratio_in_place_over_zstd_d": round(median(in_place), 3),
            "ratio_diff_live_over_restore_to": round(median(preview), 3),
            "peak_rss_mb": {k: round(v / 1024, 1) for k, v in rss.items()},
            "note": "in place includes the protected safety snapshot of the current database",
        },
    )


if __name__ == "__main__":
    main()
