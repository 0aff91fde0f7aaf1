"""What limits an in-place restore of a large WAL database (issue 22): SQLite's backup API
writing every page into a WAL destination in one transaction costs CPU that grows with
the square of the database's size.

The in-place restore writes the restored pages into the live database with the backup
API, in one transaction (old or new, never mixed). For each page it writes, the
destination's pager reads the page first, and in WAL mode that read searches the
wal-index: one hash table per 4,096 frames, from the newest to the oldest, and the
transaction's own pages, spilled from the cache, are all frames of the WAL. So the
n-th page's read searches about n / 4,096 hash tables: CPU per GiB grows with the size.
A rollback-journal destination does not search anything (its CPU per GiB stays flat).

For each --sizes (MB): a database of that size (random blobs, built once in bench/out/)
is copied over a copy of itself in WAL mode and in rollback-journal mode, in this
process (backup API, 2,048 pages per step, as the restore steps); the user and system
CPU seconds of each copy, and user seconds per GiB, are reported. The machine may be
shared: compare the sizes of one run.

Usage: python bench/wal_backup_scaling.py [--sizes 256,512,1024,2048]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, report

ROW_BYTES = 900  # four rows to a 4 KiB page: no overflow pages
STEP_PAGES = 2048


def _source(size_mb: int) -> Path:
    path = OUT / f"walscale-{size_mb}mb.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    conn = sqlite3.connect(building, isolation_level=None)
    conn.execute("create table t(id integer primary key, b blob)")
    rows = size_mb * 1024 * 1024 // (ROW_BYTES + 124)
    conn.execute("begin")
    conn.execute(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)"
        " insert into t select i, randomblob(?) from n",
        (rows, ROW_BYTES),
    )
    conn.execute("commit")
    conn.close()
    building.rename(path)
    return path


def _target(source: Path, wal: bool) -> Path:
    """A copy of `source` (one row changed) in the journal mode asked for."""
    target = OUT / f"walscale-target-{'wal' if wal else 'rollback'}.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.execute("update t set b = randomblob(?) where id = 1", (ROW_BYTES,))
    conn.close()
    return target


def _copy_cpu(source: Path, target: Path) -> dict[str, float]:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        src.backup(dst, pages=STEP_PAGES)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        src.close()
        dst.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    user = after.ru_utime - before.ru_utime
    gib = os.path.getsize(source) / 2**30
    return {
        "wall_s": round(wall, 2),
        "user_s": round(user, 2),
        "sys_s": round(after.ru_stime - before.ru_stime, 2),
        "user_s_per_gib": round(user / gib, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="256,512,1024,2048")
    args = parser.parse_args()
    results: dict[str, object] = {}
    for size_mb in (int(s) for s in args.sizes.split(",")):
        source = _source(size_mb)
        row = {}
        for wal in (True, False):
            row["wal" if wal else "rollback"] = _copy_cpu(source, _target(source, wal))
        results[f"{size_mb}mb"] = row
        print(
            f"{size_mb:>6} MB: user s/GiB into WAL {row['wal']['user_s_per_gib']:.2f}, "
            f"into rollback journal {row['rollback']['user_s_per_gib']:.2f}",
            flush=True,
        )
    report("wal_backup_scaling", results)


if __name__ == "__main__":
    main()
