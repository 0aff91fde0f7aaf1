"""What a point restore's check costs, part by part, on a point already rebuilt (its
file in the page cache): SQLite's whole quick_check, the narrowed check
(core/history/point_check.py), and its parts alone: SQLite's per-table check of the
touched tables, our walk of the touched b-trees (tree_pages.py), and the dbstat walk
the narrowed check used before session 29. Interleaved, `--rounds` times; medians.

    PYTHONPATH=$PWD/app python -m bench.point_check_parts [--size-mb 256]
        [--commits 25000] [--after-s S] [--root bench/out/continuous/hour-lifeboat]

Uses bench/point_phases' capture (bench/out/point-phases-<size>-<commits>, built there
if missing). The machine may be shared: the figures are this run's.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import median
from bench.point_phases import build, timed_restore


def _rebuilt(root: Path, after_s: float | None) -> tuple[Path, object]:
    """The point's file (restored without a check) and its RewrittenPages."""
    from lifeboat.core.history import points

    out = root / "parts.db"
    out.unlink(missing_ok=True)
    seen: dict[str, object] = {}
    synced = points._synced_and_checked

    def keep(fd: int, work: Path, check: object, written: object) -> None:
        seen["written"] = written
        synced(fd, work, None, written)  # type: ignore[arg-type]

    points._synced_and_checked = keep  # type: ignore[assignment]
    try:
        timed_restore(root, out, "none", False, after_s=after_s)
    finally:
        points._synced_and_checked = synced  # type: ignore[assignment]
    return out, seen["written"]


def parts(path: Path, written: object, owners: object) -> dict[str, Callable[[], object]]:
    from lifeboat.core.dbcheck import check_database, check_tables
    from lifeboat.core.history import point_check as pc
    from lifeboat.core.history.page_owners import PageFile, tree_roots
    from lifeboat.core.history.tree_pages import TreeFile, tree_pages
    from lifeboat.core.sqlite_file import open_copy

    fd = os.open(path, os.O_RDONLY)
    page1 = os.pread(fd, owners.page_size, 0)  # type: ignore[attr-defined]
    touched = pc._touched_roots(written, owners)  # type: ignore[arg-type]
    assert touched is not None
    file = PageFile(fd, owners.page_size, written.page_count, page1[20])  # type: ignore[attr-defined]
    conn = open_copy(path)
    names = [n for n, r in tree_roots(conn).items() if r in touched]
    tables = pc._tables_of(conn, touched)
    conn.close()
    assert tables is not None
    trees = TreeFile(fd, file.size, file.usable, file.count)
    others = pc._pages_of_others(file, page1, written, owners, touched)  # type: ignore[arg-type]
    assert others is not None
    share = others.left / file.count

    def per_table() -> object:
        conn = open_copy(path)
        try:
            return check_tables(conn, "quick", tables, path)
        finally:
            conn.close()

    def dbstat_walk() -> object:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return sum(
                1
                for n in names
                for _ in conn.execute("select pageno from dbstat where name=?", (n,))
            )
        finally:
            conn.close()

    print(json.dumps({"touched_share": round(share, 3), "tables": tables}), flush=True)
    return {
        "whole": lambda: check_database(path, "quick"),
        "narrowed": lambda: pc.narrowed_check(path, written, owners, "quick"),  # type: ignore[arg-type]
        "per_table": per_table,
        "walk": lambda: tree_pages(trees, sorted(touched)),
        "accounting": lambda: pc._accounts_for_every_page(trees, sorted(touched), others),
        "dbstat_walk": dbstat_walk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--commits", type=int, default=25_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--payload", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--after-s", type=float)
    parser.add_argument(
        "--root",
        type=Path,
        help="a capture bench/point_phases --root has restored from already (e.g. "
        "bench/out/continuous/hour-lifeboat): its last point",
    )
    args = parser.parse_args()
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.owners_file import base_owners
    from lifeboat.core.manifest import read_manifest

    root = args.root or build(args.size_mb, args.commits, args.rate, args.payload)
    path, written = _rebuilt(root, args.after_s)
    folder = root / "snapshots" / "notes"
    bases = [
        BaseRef(read_manifest(m.with_suffix(".json")), folder) for m in folder.glob("*.owners")
    ]
    owners = next(o for o in map(base_owners, bases) if o is not None)
    from lifeboat.core.history import point_check

    point_check._MOST = 1.0  # measured whatever the share
    timers = parts(path, written, owners)
    assert timers["narrowed"]() is not None, "the narrowed check did not run"
    rows: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, run in timers.items():
            at = time.perf_counter()
            run()
            rows[name].append(time.perf_counter() - at)
    summary = {name: round(median(times), 3) for name, times in rows.items()}
    summary["load_1min"] = round(os.getloadavg()[0], 2)
    print("median", json.dumps(summary), flush=True)
    path.unlink()


if __name__ == "__main__":
    main()
