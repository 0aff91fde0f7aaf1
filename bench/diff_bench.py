"""Restore preview benchmark: `lifeboat diff ID --live` against `lifeboat restore ID --to`.

Uses the snapshot benchmark's cached database (bench/out/bench-<size>mb.db, built if
missing), takes one snapshot, changes --fraction of its rows (--mix updates: bodies
rewritten through bench.dbgen.update_rows; --mix mixed: a third each updated, deleted
and inserted past the end), then runs --rounds rounds of, in this order:
`lifeboat restore ID --to NEW --yes` and `lifeboat diff ID --live --json` (and, with
--baseline-app, the same diff from that app folder: a before/after in one run), with
peak memory of each.

Usage: python bench/diff_bench.py [--size-mb 1024] [--rounds 3] [--fraction 0.01]
       [--mix updates|mixed] [--baseline-app OTHER/app]
Goals (issue 12): the preview takes at most the time of the restore; peak memory
<= 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, lifeboat_env, median, report, run_timed, warm
from bench.dbgen import bench_database, build_database, make_text, update_rows


def change_rows(db: Path, fraction: float, mix: str) -> int:
    """Change `fraction` of the notes: all updated (`updates`), or a third each updated,
    deleted (spread over the table) and inserted past its end (`mixed`)."""
    if mix == "updates":
        return update_rows(db, fraction)
    updated = update_rows(db, fraction / 3, seed=3)
    rng = random.Random(4)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        top = conn.execute("select max(id) from notes").fetchone()[0]
        gone = rng.sample(range(1, top + 1), max(1, int(top * fraction / 3)))
        conn.execute("begin")
        conn.executemany("delete from notes where id = ?", [(i,) for i in gone])
        added = len(gone)
        for i in range(top + 1, top + 1 + added):
            conn.execute(
                "insert into notes values (?, ?, ?, ?, ?)",
                (i, make_text(rng, 40), make_text(rng, 1700), "new", 1_700_000_000),
            )
        conn.execute("commit")
    finally:
        conn.close()
    return updated + 2 * added


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--mix", choices=("updates", "mixed"), default="updates")
    parser.add_argument(
        "--split",
        action="store_true",
        help="every diff round first, then the live database is deleted and every restore "
        "round runs: the disk holds the database or the restored copy, never both",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="build the database in the work folder instead of copying a cached one "
        "(half the disk for sizes no other bench keeps)",
    )
    parser.add_argument(
        "--baseline-app",
        type=Path,
        help="also time `lifeboat diff` from this app folder (e.g. main's app/) on the same "
        "home and snapshot, right after this tree's",
    )
    args = parser.parse_args()
    if args.fresh:
        work = OUT / "diff"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        db = build_database(work / "live.db", args.size_mb << 20)
    else:
        work, db = bench_database("diff", args.size_mb, "live.db")
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
    changed = change_rows(db, args.fraction, args.mix)
    print(f"changed {changed} rows after snapshot {snap['id']}", flush=True)
    artifact = Path(snap["path"])
    times: dict[str, list[float]] = {"restore --to": [], "diff --live": []}
    baseline_env = None
    if args.baseline_app is not None:
        baseline_env = {**env, "PYTHONPATH": str(args.baseline_app.resolve())}
        times["baseline diff --live"] = []
    rss: dict[str, int] = {}

    def restore_round() -> None:
        new = work / "new.db"
        warm(artifact)
        t_to, peak_to = run_timed(
            [*lifeboat, "restore", snap["id"], "--to", str(new), "--yes"], env=env
        )
        new.unlink()
        times["restore --to"].append(t_to)
        rss["restore_to"] = max(rss.get("restore_to", 0), peak_to)
        print(f"restore --to {t_to:.2f} s", flush=True)

    def diff_round() -> dict[str, object]:
        warm(artifact)
        warm(db)
        out = work / "diff.json"
        with out.open("w") as sink:
            t_diff, peak_diff = run_timed(
                [*lifeboat, "diff", snap["id"], "--live", "--json"], env=env, stdout=sink
            )
        result = json.loads(out.read_text())
        times["diff --live"].append(t_diff)
        rss["diff"] = max(rss.get("diff", 0), peak_diff)
        print(f"diff --live {t_diff:.2f} s (partial: {result['partial']})", flush=True)
        if baseline_env is not None:
            warm(artifact)
            warm(db)
            with out.open("w") as sink:
                t_base, peak_base = run_timed(
                    [*lifeboat, "diff", snap["id"], "--live", "--json"],
                    env=baseline_env,
                    stdout=sink,
                )
            same = _figures(json.loads(out.read_text())) == _figures(result)
            times["baseline diff --live"].append(t_base)
            rss["baseline_diff"] = max(rss.get("baseline_diff", 0), peak_base)
            print(f"  baseline diff --live {t_base:.2f} s (same figures: {same})", flush=True)
        return result

    result: dict[str, object] = {}
    if args.split:  # every diff, then the live database goes, then every restore
        for _ in range(args.rounds):
            result = diff_round()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        for _ in range(args.rounds):
            restore_round()
    else:
        for _ in range(args.rounds):
            restore_round()
            result = diff_round()
    ratios = [d / r for d, r in zip(times["diff --live"], times["restore --to"], strict=True)]
    base_ratios = [
        d / r
        for d, r in zip(times.get("baseline diff --live", []), times["restore --to"], strict=False)
    ]
    report(
        "diff_bench",
        {
            "database_bytes": snap["db_size"],
            "rows_changed": changed,
            "median_seconds": {k: round(median(v), 3) for k, v in times.items()},
            "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "ratio_diff_over_restore_to": {
                "median": round(median(ratios), 3),
                "per_round": [round(r, 3) for r in ratios],
            },
            **(
                {"ratio_baseline_diff_over_restore_to": round(median(base_ratios), 3)}
                if base_ratios
                else {}
            ),
            "mix": args.mix,
            "peak_rss_mb": {k: round(v / 1024, 1) for k, v in rss.items()},
            "diff_partial": result.get("partial"),
            "diff_tables": [
                {k: t[k] for k in ("name", "brought_back", "removed", "changed")}
                for t in result.get("tables", [])
            ],  # type: ignore[union-attr]
        },
    )


def _figures(result: dict[str, object]) -> object:
    return [
        {
            k: t[k]
            for k in ("name", "rows_snapshot", "rows_now", "brought_back", "removed", "changed")
        }
        for t in result["tables"]  # type: ignore[attr-defined]
    ]


if __name__ == "__main__":
    main()
