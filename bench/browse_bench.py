"""Looking inside a backup point without restoring it (issue 21), against Litestream's VFS.

On a copy of the bench database (bench/dbgen.py), one run prepares:
- Lifeboat: the source with continuous protection; its follower takes a full base
  snapshot, then captures COMMITS commits (each updates a few notes): the newest point
  is a point of the history on that base;
- the same base artifact re-packed as a seekable artifact (1 MiB zstd frames + the zstd
  seek table, as design-history.md's "Seekable artifacts" says format 3 will be), read
  through core/point_pages.SeekablePages: what a base will cost once artifacts are
  seekable;
- Litestream 0.5.17: `litestream replicate` of the same database to a file replica, read
  through its VFS extension (the `litestream-vfs` package) loaded into apsw.

Then each contender is measured in a fresh process of its own (its peak RSS is that
process's): open + schema read, the first page (50 rows) of `notes`, a point lookup by id
(the first one, then the median of 20 more), `count(*)` of `notes`, each cold (first in
the process) and warm (again). The OS file cache is not dropped (a shared machine).
The Browse window's own path is measured the same way (window_snapshot, window_history:
Service.browse_point, its tables, the first page of 200 rows, the count, the last page).
Run: PYTHONPATH=app python -m bench.browse_bench [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

from bench.common import OUT, median, need_tools, report
from bench.dbgen import bench_database

COMMITS = 30
FRAME = 1 << 20
SMALL_FRAME = 64 << 10
#: the Browse window's own path (Service.browse_point: the tables, then a page of the
#: row model), on the snapshot and on the newest point of the history
WINDOW = ("window_snapshot", "window_history")
CONTENDERS = (
    *WINDOW,
    "lifeboat_snapshot",
    "lifeboat_history",
    "lifeboat_seekable",
    "lifeboat_seekable_64k",
    "litestream",
)


def prepare(work: Path, db: Path) -> dict[str, Any]:
    """Lifeboat's snapshot and history, the seekable re-pack, Litestream's replica."""
    os.environ["LIFEBOAT_HOME"] = str(work / "home")
    from lifeboat.service import Service

    service = Service()
    service.add_source(db, name="bench", schedule="manual", continuous=True)
    started = time.perf_counter()
    follower = service.open_follower("bench", compact_every_s=3600, write_every_s=0)
    follower.start()  # takes the chain's full base
    base_s = time.perf_counter() - started
    writer = sqlite3.connect(db, isolation_level=None)
    high = writer.execute("select max(id) from notes").fetchone()[0]
    rng = random.Random(7)
    for k in range(COMMITS):
        writer.execute("begin")
        for note in rng.sample(range(1, high + 1), 5):
            writer.execute("update notes set title = ? where id = ?", (f"edit {k}", note))
        writer.execute("commit")
        follower.poll()
    writer.close()
    follower.close()
    (base,) = service.snapshots("bench")
    seekable = work / "seekable.sqlite.zst"
    repack_s = _repack(base.path, seekable, FRAME)
    small = work / "seekable-64k.sqlite.zst"
    _repack(base.path, small, SMALL_FRAME)
    replica_s = _litestream_replica(work, db)
    return {
        "snapshot_id": base.id,
        "artifact": str(base.path),
        "artifact_mb": round(base.path.stat().st_size / 1e6, 1),
        "page_size": base.manifest.page_size,
        "page_count": base.manifest.page_count,
        "high_id": high,
        "seekable": str(seekable),
        "seekable_mb": round(seekable.stat().st_size / 1e6, 1),
        "seekable_64k": str(small),
        "seekable_64k_mb": round(small.stat().st_size / 1e6, 1),
        "base_s": round(base_s, 2),
        "repack_s": round(repack_s, 2),
        "replica_s": round(replica_s, 2),
    }


def _repack(artifact: Path, out: Path, size: int) -> float:
    """The artifact's plain bytes as zstd frames of `size` (level 3) and a seek table."""
    from lifeboat.core.history.seektable import SeekEntry, frame_checksum, pack_seek_table

    started = time.perf_counter()
    entries = []
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
    with open(artifact, "rb") as raw, open(out, "wb") as sink:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        while chunk := reader.read(size):
            while len(chunk) < size and (more := reader.read(size - len(chunk))):
                chunk += more
            frame = compressor.compress(chunk)
            sink.write(frame)
            entries.append(SeekEntry(len(frame), len(chunk), frame_checksum(chunk)))
        sink.write(pack_seek_table(entries))
    return time.perf_counter() - started


def _litestream_replica(work: Path, db: Path) -> float:
    """`litestream replicate` to a file replica until its snapshot of the database is
    written; returns how long that took."""
    replica = work / "replica"
    config = work / "litestream.yml"
    config.write_text(
        f"dbs:\n  - path: {db}\n    replica:\n      type: file\n      path: {replica}\n"
    )
    started = time.perf_counter()
    with open(work / "litestream.log", "w") as log:
        proc = subprocess.Popen(
            ["litestream", "replicate", "-config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        snapshots = replica / "ltx" / "9"
        try:
            while not (snapshots.exists() and any(snapshots.glob("*.ltx"))):
                if proc.poll() is not None:
                    raise RuntimeError(f"litestream stopped; see {work / 'litestream.log'}")
                time.sleep(0.05)  # polling a process we do not control
            took = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return took


# -- one contender, in a process of its own -------------------------------------------


def _open(contender: str, work: Path, prep: dict[str, Any]) -> tuple[Any, Callable[[], None]]:
    """An apsw connection on the contender's point, and what closes it."""
    import apsw

    if contender == "litestream":
        import litestream_vfs

        # Read by the extension's Go runtime from the process's start-up environment
        # (set by main(): a change made here is not seen).
        assert os.environ["LITESTREAM_REPLICA_URL"] == f"file://{work / 'replica'}"
        loader = apsw.Connection(":memory:")
        loader.enable_load_extension(True)
        loader.load_extension(litestream_vfs.loadable_path())
        conn = apsw.Connection(
            "file:bench.db?mode=ro",
            flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI,
            vfs="litestream",
        )
        return conn, conn.close
    from lifeboat.core.point_query import PointQuery

    if contender.startswith("lifeboat_seekable"):
        path = Path(prep["seekable_64k" if contender.endswith("64k") else "seekable"])
        from lifeboat.core.point_pages import CachedPages, SeekablePages

        pages: Any = CachedPages(SeekablePages(path, prep["page_size"], prep["page_count"]))
        closers = [pages.close]
    else:
        os.environ["LIFEBOAT_HOME"] = str(work / "home")
        from lifeboat.service import Service

        ref = prep["snapshot_id"] if contender == "lifeboat_snapshot" else "bench"
        pages = Service().open_point(ref)
        closers = [pages.close]
    query = PointQuery(pages)
    return query.conn, lambda: [query.close(), *(close() for close in closers)]


def measure_window(contender: str, work: Path, prep: dict[str, Any]) -> dict[str, Any]:
    """What the Browse window waits for: the point opened with its tables listed, then
    the first page of `notes` as its row model asks for it (PAGE_ROWS rows), then the
    row count (shown once it comes), and a page far down the table."""
    os.environ["LIFEBOAT_HOME"] = str(work / "home")
    import apsw  # noqa: F401

    from lifeboat.service import Service

    service = Service()
    page_rows = 200  # gui/browse_models.PAGE_ROWS (no Qt in this process)
    snapshot = prep["snapshot_id"] if contender == "window_snapshot" else None
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    browser = service.browse_point("bench", snapshot=snapshot)
    tables = browser.tables()
    figures["open_tables_s"] = time.perf_counter() - started
    assert any(t.name == "notes" for t in tables)
    figures["first_page_s"] = _timed(lambda: browser.page("notes", 0, page_rows))
    figures["open_to_first_page_s"] = time.perf_counter() - started
    counted: list[int] = []
    figures["count_s"] = _timed(lambda: counted.append(browser.count("notes")))
    far = max(0, counted[0] - page_rows)
    figures["last_page_s"] = _timed(lambda: browser.page("notes", far, page_rows))
    figures["first_page_warm_s"] = _timed(lambda: browser.page("notes", 0, page_rows))
    figures["rows"] = counted[0]
    browser.close()
    figures["peak_rss_mb"] = _peak_rss_mb()
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def measure(contender: str, work: Path, prep: dict[str, Any]) -> dict[str, Any]:
    if contender in WINDOW:
        return measure_window(contender, work, prep)
    rng = random.Random(11)
    ids = [rng.randrange(1, prep["high_id"]) for _ in range(21)]
    figures: dict[str, Any] = {}
    # Imports first (a process's start-up, the same whatever it opens).
    import apsw  # noqa: F401
    import litestream_vfs  # noqa: F401

    import lifeboat.core.point_query
    import lifeboat.service  # noqa: F401

    started = time.perf_counter()
    conn, close = _open(contender, work, prep)
    schema = list(conn.execute("select name, sql from sqlite_schema"))
    figures["open_schema_s"] = time.perf_counter() - started
    assert any(name == "notes" for name, _ in schema)
    figures["first_page_s"] = _timed(lambda: list(conn.execute("select * from notes limit 50")))
    figures["open_to_first_page_s"] = time.perf_counter() - started
    lookup = "select title, length(body) from notes where id = ?"
    figures["lookup_first_s"] = _timed(lambda: list(conn.execute(lookup, (ids[0],))))
    figures["lookup_median_s"] = median(
        [_timed(lambda i=i: list(conn.execute(lookup, (i,)))) for i in ids[1:]]
    )
    counted: list[Any] = []
    figures["count_cold_s"] = _timed(
        lambda: counted.extend(conn.execute("select count(*) from notes"))
    )
    figures["count_warm_s"] = _timed(lambda: list(conn.execute("select count(*) from notes")))
    figures["first_page_warm_s"] = _timed(
        lambda: list(conn.execute("select * from notes limit 50"))
    )
    figures["rows"] = counted[0][0]
    close()
    figures["peak_rss_mb"] = _peak_rss_mb()
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: since its exec; getrusage's ru_maxrss would keep
    the parent's from before it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--measure", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        prep = json.loads((args.work / "prepared.json").read_text())
        print(json.dumps(measure(args.measure, args.work, prep)))
        return
    need_tools("litestream")
    work, db = bench_database("browse", args.size_mb, "bench.db")
    prep = prepare(work, db)
    (work / "prepared.json").write_text(json.dumps(prep))
    print(json.dumps(prep), flush=True)
    results: dict[str, Any] = {"size_mb": args.size_mb, "commits": COMMITS, "prepared": prep}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LITESTREAM_REPLICA_URL": f"file://{work / 'replica'}",
    }
    for contender in ("warm-up", *CONTENDERS):  # the first process also loads the imports
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.browse_bench",
                "--measure",
                "lifeboat_snapshot" if contender == "warm-up" else contender,
                "--work",
                str(work),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{contender} failed:\n{done.stderr}")
        if contender == "warm-up":
            continue
        results[contender] = json.loads(done.stdout.splitlines()[-1])
        print(contender, json.dumps(results[contender]), flush=True)
    report("browse", results)
    print(f"(also in {OUT / 'browse.json'})")
    shutil.rmtree(work / "replica", ignore_errors=True)


if __name__ == "__main__":
    main()
