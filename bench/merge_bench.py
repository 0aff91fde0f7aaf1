"""Merge restore benchmark: bring back 1,000 deleted rows into the live database
(`lifeboat restore NAME --from ID --table notes --yes`) against a full restore of the
same snapshot to a new file (`lifeboat restore ID --to PATH --yes`), in the same run.

Builds (once, cached in bench/out/) the bench's WAL database of --size-mb, takes a full
snapshot, deletes 1,000 rows of `notes` spread over the table, then times: the preview
(--dry-run); the merge (rebuild of the past into scratch, safety snapshot, one
transaction; the phases it reports: safety snapshot, past, plan, the re-check under the
lock, the longest write-lock hold; base_proof runs beside the safety snapshot, and past
includes waiting for the safety snapshot's pass over the live file, whose page hashes it
takes: core/live_pass.py); the merge of 1,000 other rows while a writer process
commits every 5 ms (its commit latency reported: the longest is the writer's stall);
the preview and the merge of 1,000 other rows that an app deleted and keeps in its WAL,
not copied back into the file (its connection open, as an app's usually is: read where
they are, core/wal_frames.wal_pages); the full restore to a new file; and the full
restore in place (which takes the same safety snapshot). Each runs as a CLI process
(peak RSS from wait4); the rows are checked.
The merge's and the full restore's CPU seconds (user + system) are reported beside their
wall times: on a loaded machine the wall-time ratio swings from run to run.

Usage: PYTHONPATH=$PWD/app python bench/merge_bench.py [--size-mb 1024]
Goal (issue 21): the merge takes well under the full restore's time.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import WriterProcess, latency_summary, lifeboat_env, report, run_timed, warm
from bench.dbgen import bench_database

DELETED = 1000


def lifeboat(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lifeboat", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _count(db: Path, table: str) -> tuple[int]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"select count(*) from {table}").fetchone()
    finally:
        conn.close()


def _delete(db: Path, table: str, rows: int, offset: int) -> None:
    """1,000 rows spread over the table."""
    step = max(rows // DELETED, 2)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(
        f"delete from {table} where id in (select id from {table} where id % {step} = {offset} "
        f"limit {DELETED})"
    )
    conn.close()


#: an app that keeps its connection open: its deletion stays in the WAL, not copied back
#: into the file (SQLite's automatic checkpoint off, as between two of an app's own)
_OPEN_APP = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("pragma wal_autocheckpoint=0")
conn.execute(sys.argv[2])
print("ready", flush=True)
time.sleep(3600)
"""


def _open_app(db: Path, table: str, rows: int, offset: int) -> subprocess.Popen[str]:
    step = max(rows // DELETED, 2)
    sql = (
        f"delete from {table} where id in (select id from {table} where id % {step} = {offset} "
        f"limit {DELETED})"
    )
    app = subprocess.Popen(
        [sys.executable, "-c", _OPEN_APP, str(db), sql], stdout=subprocess.PIPE, text=True
    )
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    return app


def _add_small_table(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table small(id integer primary key, body text)")
    conn.execute("begin")
    conn.executemany(
        "insert into small values (?, ?)", ((i, f"small row {i:08d}") for i in range(1, 20001))
    )
    conn.execute("commit")
    conn.close()


def _merge_timed(
    env: dict[str, str], merge: list[str], out: Path, cpu: dict[str, float] | None = None
) -> tuple[float, int, dict]:
    """The merge as a CLI process: seconds, peak RSS (KB), and the phases it reports."""
    with open(out, "w") as fh:
        seconds, peak_kb = run_timed(
            [sys.executable, "-m", "lifeboat", *merge, "--yes", "--json"],
            env=env,
            stdout=fh,
            cpu=cpu,
        )
    return seconds, peak_kb, json.loads(out.read_text()).get("phases", {})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--table",
        default="notes",
        choices=("notes", "attachments", "small"),
        help="notes: 57%% of the database, attachments: 40%% (both over the 10%% below which "
        "only the table's pages of the past are read); small: a table of 20,000 short rows "
        "added to the database first (about 1%%)",
    )
    args = parser.parse_args()
    table = args.table
    work, db = bench_database("merge", args.size_mb, "live.db")
    if table == "small":
        _add_small_table(db)
    env = lifeboat_env(work / "home")
    lifeboat(env, "source", "add", str(db), "--name", "bench", "--schedule", "manual")
    snapshot = json.loads(lifeboat(env, "backup", "bench", "--json"))["id"]
    (rows,) = _count(db, table)
    _delete(db, table, rows, 0)
    warm(db)
    merge = ["restore", "bench", "--from", snapshot, "--table", table]
    preview_s, preview_kb = run_timed(
        [sys.executable, "-m", "lifeboat", *merge, "--dry-run", "--json"], env=env
    )
    merge_cpu: dict[str, float] = {}
    merge_s, merge_kb, phases = _merge_timed(env, merge, work / "merge.json", merge_cpu)
    assert _count(db, table) == (rows,), "every row is back"
    # Again, while the app keeps writing (a commit every 5 ms) as the rows come back.
    _delete(db, table, rows, 1)
    writer = WriterProcess(db, 0.005, work / "writer.txt")
    started = time.time()
    busy_s, busy_kb, busy_phases = _merge_timed(env, merge, work / "merge-busy.json")
    ended = time.time()
    latency = latency_summary(writer.stop(), started, ended)
    assert _count(db, table) == (rows,), "every row is back"
    # Again, the app's connection open: its deletion is in WAL frames not copied back.
    app = _open_app(db, table, rows, 2)
    try:
        open_preview_s, _ = run_timed(
            [sys.executable, "-m", "lifeboat", *merge, "--dry-run", "--json"], env=env
        )
        open_s, open_kb, open_phases = _merge_timed(env, merge, work / "merge-open.json")
    finally:
        app.terminate()
        app.wait(timeout=30)
    assert _count(db, table) == (rows,), "every row is back"
    restore_cpu: dict[str, float] = {}
    restore_s, restore_kb = run_timed(
        [
            sys.executable,
            "-m",
            "lifeboat",
            "restore",
            snapshot,
            "--to",
            str(work / "full.db"),
            "--yes",
        ],
        env=env,
        cpu=restore_cpu,
    )
    # An in-place restore takes the same safety snapshot the merge takes, then replaces
    # the whole file (the merge's rows are lost again: this is the last step).
    in_place_s, in_place_kb = run_timed(
        [sys.executable, "-m", "lifeboat", "restore", snapshot, "--yes"], env=env
    )
    report(
        f"merge-{table}",
        {
            "size_mb": args.size_mb,
            "db_bytes": db.stat().st_size,
            "table": table,
            "table_rows": rows,
            "deleted_rows": DELETED,
            "preview_s": round(preview_s, 2),
            "preview_peak_rss_mb": round(preview_kb / 1024, 1),
            "merge_s": round(merge_s, 2),
            "merge_peak_rss_mb": round(merge_kb / 1024, 1),
            "merge_phases_s": phases,
            "merge_while_writing_s": round(busy_s, 2),
            # its check under the write lock reads the file mapped (core/wal_direct.py):
            # the pages read count in the resident size meanwhile
            "merge_while_writing_peak_rss_mb": round(busy_kb / 1024, 1),
            "writer_during_merge": {k: round(v, 1) for k, v in latency.items()},
            "merge_while_writing_phases_s": busy_phases,
            "full_restore_to_s": round(restore_s, 2),
            "full_restore_peak_rss_mb": round(restore_kb / 1024, 1),
            "merge_over_full_restore": round(merge_s / restore_s, 2),
            "preview_over_full_restore": round(preview_s / restore_s, 2),
            "app_open_preview_s": round(open_preview_s, 2),
            "app_open_merge_s": round(open_s, 2),
            "app_open_merge_peak_rss_mb": round(open_kb / 1024, 1),
            "app_open_merge_phases_s": open_phases,
            "app_open_merge_over_full_restore": round(open_s / restore_s, 2),
            "app_open_preview_over_full_restore": round(open_preview_s / restore_s, 2),
            "merge_cpu_s": round(merge_cpu["seconds"], 2),
            "full_restore_to_cpu_s": round(restore_cpu["seconds"], 2),
            "merge_over_full_restore_cpu": round(merge_cpu["seconds"] / restore_cpu["seconds"], 2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "full_restore_in_place_s": round(in_place_s, 2),
            "full_restore_in_place_peak_rss_mb": round(in_place_kb / 1024, 1),
            "merge_over_in_place_restore": round(merge_s / in_place_s, 2),
        },
    )


if __name__ == "__main__":
    main()
