"""Restore preview while the app keeps its connection open: `lifeboat diff ID --live`
against `lifeboat restore ID --to NEW --yes`, in the same rounds.

An app that keeps its database open rarely leaves every WAL frame copied back into the
file; the preview never checkpoints the app's file, so it reads those frames where they
are (core/wal_frames.wal_pages). Each round: an app process changes --changed-rows notes
and keeps its connection open (SQLite's automatic checkpoint off, its changes in the
WAL); the preview runs; the app closes (SQLite copies its WAL back into the file); the
preview runs again; the full restore to a new file runs. Lifeboat's bytecode is compiled
first, each artifact and the live files read once before each run (warm page cache).
Ratios are per round, then their median.

Usage: python bench/preview_open_app_bench.py [--size-mb 1024] [--rounds 3]
    [--changed-rows 2000]
Goal (issue 22): diff --live <= 0.8x restore --to.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import lifeboat_env, report, run_timed, warm
from bench.dbgen import bench_database
from bench.rounds import compile_app

#: the app: changes notes in one transaction, then keeps its connection open
_APP = """
import random, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("pragma wal_autocheckpoint=0")
rng = random.Random(int(sys.argv[3]))
top = conn.execute("select max(id) from notes").fetchone()[0]
conn.execute("begin")
for i in rng.sample(range(1, top + 1), int(sys.argv[2])):
    conn.execute("update notes set body = body || ' (edited)', updated_at = updated_at + 1 "
                 "where id = ?", (i,))
conn.execute("commit")
print("ready", flush=True)
sys.stdin.read()  # until the bench closes its stdin
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changed-rows", type=int, default=2000)
    args = parser.parse_args()
    compile_app()
    work, db = bench_database("preview-open-app", args.size_mb, "live.db")
    env = lifeboat_env(work / "home")
    lifeboat = [sys.executable, "-m", "lifeboat"]
    subprocess.run(
        [*lifeboat, "source", "add", str(db), "--name", "bench", "--schedule", "manual"],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [*lifeboat, "backup", "bench", "--json"], env=env, check=True, capture_output=True
    )
    snap = json.loads(done.stdout)
    artifact, new = Path(snap["path"]), work / "new.db"
    preview = [*lifeboat, "diff", snap["id"], "--live"]
    restore = [*lifeboat, "restore", snap["id"], "--to", str(new), "--yes"]
    rounds: list[dict[str, float]] = []
    for round_no in range(args.rounds):
        app = subprocess.Popen(
            [sys.executable, "-c", _APP, str(db), str(args.changed_rows), str(round_no)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        wal_bytes = os.path.getsize(f"{db}-wal")
        try:
            open_s = _timed(preview, env, artifact, db)
        finally:
            assert app.stdin is not None
            app.stdin.close()
            app.wait(timeout=60)
        closed_s = _timed(preview, env, artifact, db)
        restore_s = _timed(restore, env, artifact, db)
        new.unlink()
        rounds.append(
            {"app_open": open_s, "app_closed": closed_s, "restore_to": restore_s, "wal": wal_bytes}
        )
        print(f"round {round_no + 1}: {rounds[-1]}", flush=True)
    report("preview_open_app_bench", _summary(rounds, args, snap))


def _timed(cmd: list[str], env: dict[str, str], artifact: Path, db: Path) -> float:
    os.sync()
    warm(artifact)
    warm(db)
    seconds, _ = run_timed(cmd, env=env)
    return seconds


def _summary(
    rounds: list[dict[str, float]], args: argparse.Namespace, snap: dict[str, object]
) -> dict[str, object]:
    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 2)

    def ratio(key: str) -> float:
        return round(statistics.median(r[key] / r["restore_to"] for r in rounds), 2)

    return {
        "database_bytes": snap["db_size"],
        "changed_rows_per_round": args.changed_rows,
        "app_wal_bytes": int(median("wal")),
        "diff_live_app_open_s": median("app_open"),
        "diff_live_app_closed_s": median("app_closed"),
        "restore_to_s": median("restore_to"),
        "ratio_diff_live_app_open_over_restore_to": ratio("app_open"),
        "ratio_diff_live_app_closed_over_restore_to": ratio("app_closed"),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
