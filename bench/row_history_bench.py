"""How long `lifeboat history` takes for one row across 30 backup points.

    PYTHONPATH=$PWD/app python -m bench.row_history_bench [--size-mb 1024]

On a copy of the bench database (bench/dbgen.py), through the service in a private
LIFEBOAT_HOME: continuous protection on (the follower's base is a full snapshot), then
30 points: commits of the app (most on other rows, three on the followed one),
differential snapshots and one more full snapshot between them. Then, in a fresh
process (nothing cached, its own peak RSS), Service.row_history of the followed row,
timed, with how many points it had to look the row up at; against the brute force
it replaces: rebuilding one point with `restore --to` (timed once; the brute force
does it at every point).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.common import report
from bench.dbgen import bench_database

NAME = "bench"

_MEASURE = """
import json, resource, sys, time
from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.service import Service
service = Service()
rowid = int(sys.argv[1])
started = time.perf_counter()
history = service.row_history("bench", "notes", KeySpec(rowid=rowid))
took = time.perf_counter() - started
print(json.dumps({"seconds": took, "versions": [str(v.change) for v in history.versions],
                  "points": history.points, "lookups": history.lookups,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _plan() -> list[str]:
    """What happens at each of the 29 points after the base: a commit elsewhere, a
    commit on the followed row, a differential or a full snapshot (never two snapshots
    in a row: a backup of an unchanged database takes none)."""
    plan = ["other"] * 29
    for at in (3, 7, 11, 19, 23, 27):
        plan[at] = "diff"
    plan[15] = "full"
    for at in (5, 13, 21):
        plan[at] = "row"
    return plan


def _build(home: Path, db: Path, rowid: int) -> list[str]:
    from lifeboat.service import Service

    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    top = conn.execute("select max(id) from notes").fetchone()[0]
    rng = random.Random(11)
    plan = _plan()
    for step, what in enumerate(plan):
        if what in ("diff", "full"):
            service.backup(NAME, full=what == "full", upload=False)
            continue
        target = rowid if what == "row" else rng.randrange(1, top)
        conn.execute(f"update notes set title = 'step {step}' where id = {target}")
        follower.poll()
    follower.close()
    conn.close()
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    work, db = bench_database("row-history", args.size_mb, "bench.db")
    home = work / "home"
    os.environ["LIFEBOAT_HOME"] = str(home)
    conn = sqlite3.connect(db)
    rowid = conn.execute("select max(id) from notes").fetchone()[0] // 2
    conn.close()
    started = time.perf_counter()
    plan = _build(home, db, rowid)
    built = time.perf_counter() - started
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(rowid)], env=env, check=True, capture_output=True
    )
    measured = json.loads(out.stdout)
    from lifeboat.service import Service

    service = Service()
    newest = service.workspace.catalog.snapshots(NAME)[0]
    started = time.perf_counter()
    service.restore(newest.id, to=work / "one-point.db")
    one_restore = time.perf_counter() - started
    report(
        "row_history",
        {
            "database_mb": args.size_mb,
            "plan": plan,
            "setup_seconds": round(built, 1),
            "row_history": {
                "seconds": round(measured["seconds"], 3),
                "points": measured["points"],
                "looked_up_at": measured["lookups"],
                "versions": measured["versions"],
                "peak_rss_mb": round(measured["peak_rss_mb"], 1),
            },
            "one_restore_to_seconds": round(one_restore, 2),
            "brute_force_estimate_seconds": round(one_restore * measured["points"], 1),
        },
    )


if __name__ == "__main__":
    main()
