"""Restore benchmark: `lifeboat restore --to` and in place, against plain `zstd -d`.

Uses the snapshot benchmark's cached database (bench/out/bench-<size>mb.db, built if
missing), takes one snapshot of it, then runs --rounds rounds (bench/rounds.py:
interleaved, the order rotated each round, os.sync() and a warm artifact before each run,
Lifeboat's bytecode compiled once as an installed copy has it) of: `zstd -d` of the
artifact (the issue's baseline), `zstd -d` then `sync` of its output (a second baseline:
what a durable restore does), `lifeboat restore ID --to NEW --yes` (hash, decompress, the
proof or integrity check, fsync, rename), `lifeboat diff ID --live` (the restore preview)
and `lifeboat restore ID --yes` in place (verify, a protected safety snapshot of the
current database, then SQLite's backup API into it), twice: over a live database that
already holds the snapshot's content (what the bench's database is after its backup and
after every restore: the restore proves that and writes nothing), and over one changed by
--changed-rows rows since (before each run, untimed; a new seed each time, so no safety
snapshot is ever the previous one's): the realistic case, which the goal is measured on.
Peak RSS is each command's ru_maxrss (file pages it maps count too); CPU seconds are its
user + system time (steadier than wall time on a loaded machine). Ratios are per round
(both runs under the same load), then their median; the 1-minute load
average is reported at the start and the end.

Usage: python bench/restore_bench.py [--size-mb 1024] [--rounds 3] [--changed-rows 2000]
Goals (issue 22): --to <= 1.3x zstd -d, verification included; in place (live changed)
<= 3x;
diff --live <= 0.8x --to; peak RSS <= 200 MB whatever the size.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import lifeboat_env, need_tools, report
from bench.dbgen import bench_database, update_rows
from bench.rounds import (
    Contender,
    Runs,
    compile_app,
    interleaved_rounds,
    medians,
    ratio,
    zstd_d,
    zstd_d_fsync,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--changed-rows", type=int, default=2000, help="rows changed before each realistic run"
    )
    args = parser.parse_args()
    need_tools("zstd", "sync")
    compile_app()
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
    new = work / "new.db"
    contenders = {
        "zstd -d": zstd_d(artifact, work / "plain.db"),
        "zstd -d + fsync": zstd_d_fsync(artifact, work / "plain-synced.db"),
        "restore --to": Contender(
            [*lifeboat, "restore", snap["id"], "--to", str(new), "--yes"], env, new
        ),
        "diff --live": Contender([*lifeboat, "diff", snap["id"], "--live"], env),
        "restore in place (live unchanged)": Contender(
            [*lifeboat, "restore", snap["id"], "--yes"], env
        ),
        "restore in place (live changed)": Contender(
            [*lifeboat, "restore", snap["id"], "--yes"], env, before=row_changer(db, args)
        ),
    }
    load_before = os.getloadavg()[0]

    def say(round_no: int, runs: dict[str, Runs]) -> None:
        print(
            f"round {round_no + 1} (load {os.getloadavg()[0]:.2f}): "
            + ", ".join(f"{name} {runs[name].wall[-1]:.2f} s" for name in contenders),
            flush=True,
        )

    runs = interleaved_rounds(contenders, args.rounds, (artifact,), say)
    report("restore_bench", summary(snap, runs, load_before, args.changed_rows))


def row_changer(db: Path, args: argparse.Namespace) -> Callable[[], object]:
    """Change --changed-rows notes of the live database, new text each call."""
    top = sqlite3.connect(db).execute("select max(id) from notes").fetchone()[0]
    fraction = min(1.0, args.changed_rows / top)
    seeds = itertools.count(100)
    return lambda: update_rows(db, fraction, seed=next(seeds))


def summary(
    snap: dict[str, object], runs: dict[str, Runs], load_before: float, changed_rows: int
) -> dict[str, object]:
    wall = {name: r.wall for name, r in runs.items()}
    zstd, zstd_synced = wall["zstd -d"], wall["zstd -d + fsync"]
    return {
        "database_bytes": snap["db_size"],
        "artifact_bytes": snap["size"],
        "changed_rows": changed_rows,
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        **medians(runs),
        "ratio_to_over_zstd_d": ratio(wall["restore --to"], zstd),
        "ratio_to_over_zstd_d_fsync": ratio(wall["restore --to"], zstd_synced),
        "ratio_in_place_over_zstd_d": ratio(wall["restore in place (live changed)"], zstd),
        "ratio_in_place_unchanged_over_zstd_d": ratio(
            wall["restore in place (live unchanged)"], zstd
        ),
        "ratio_diff_live_over_restore_to": ratio(wall["diff --live"], wall["restore --to"]),
        "note": "in place includes the protected safety snapshot of the current database; "
        "'live changed': --changed-rows rows changed since the snapshot (the goal's case); "
        "'live unchanged': the live database already holds the snapshot's content; "
        "on a loaded machine compare the per-round ratios and the CPU seconds",
    }


if __name__ == "__main__":
    main()
