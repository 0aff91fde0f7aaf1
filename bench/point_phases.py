"""Where a point restore's time goes, phase by phase (issue 20's restore figure).

    PYTHONPATH=$PWD/app python -m bench.point_phases [--size-mb 256] [--commits 25000]
        [--ways direct,blocks]

Builds once (kept in bench/out/point-phases-<size>, reused while it is there): a copy of
the bench database with the writer's table (as continuous_bench's hour has it in its
base), Lifeboat's follower capturing `--commits` commits of `--payload`-byte rows written
at `--rate` a second after its base (bench/continuous_contenders.Lifeboat; the base with
its page owners, as the service takes one). Then, `--rounds` times, in this process, the
point at the last commit (or `--after-s` seconds after the first) is restored as a
restore does (jobs/restore_point.rebuild_checked's steps), each phase timed: the page map
from the segments' indexes, the pages written (base decompressed, images put in, hashed,
written), the final fsync, the integrity check (`narrowed`: 1 when it checked only the
b-trees the commits touched, core/history/point_check.py), then the same restore with
SQLite's whole check (`whole_*`); and in the same round `zstd -d` of a full artifact of
that point's database, and `zstd -d` + fsync (bench/rounds.py), for ratios.
`--ways` restores the point each way named, in each round (the first way's figures are
the unsuffixed ones): direct (the threads that make the pages write them,
history/direct_rebuild.py), blocks (block by block, in order), direct-wb / direct-nowb
(direct with the writeback started while writing forced on / off), direct-cached (direct
through the page cache: core/direct_writes.py's O_DIRECT turned off).
The machine may be shared: the figures are this run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench.common import OUT, WriterProcess, median
from bench.continuous_contenders import Lifeboat
from bench.dbgen import bench_database


def build(size_mb: int, commits: int, rate: float, payload: int) -> Path:
    root = OUT / f"point-phases-{size_mb}-{commits}"
    if (root / "target.txt").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    work, db = bench_database(f"point-phases-src-{size_mb}", size_mb, "bench.db")
    root.mkdir(parents=True)
    copy = root / "bench.db"
    shutil.move(db, copy)
    shutil.rmtree(work)
    with sqlite3.connect(copy) as conn:  # in the base, as in continuous_bench's hour
        conn.execute(
            "create table if not exists writer_log(id integer primary key, at real, payload blob)"
        )
    running = Lifeboat(root, copy, 0.15)
    WriterProcess(copy, 1 / rate, root / "writer.txt", payload=payload, commits=commits).finish()
    time.sleep(2)  # the follower's last polls take what is left (as the bench does)
    polls = running.stop()
    target = datetime.fromtimestamp(max(p[1] for p in polls if p[2]), UTC)
    (root / "target.txt").write_text(target.isoformat())
    return root


def timed_restore(
    root: Path,
    out: Path,
    check: str,
    sequential: bool,
    narrowed: bool = True,
    after_s: float | None = None,
) -> dict[str, float]:
    """One restore of the last point, as rebuild_checked does it, phase by phase:
    `write` (map, base, images, hashing, writing: until the file is written), `check`
    (beside the fsync), `after_check` (the rest of the fsync, publishing). `sequential`:
    as before session 27, the file flushed while written, fsynced, published, then
    checked."""
    from lifeboat.core.dbcheck import check_database
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.chain import chain_of, list_segments
    from lifeboat.core.history.owners_file import base_owners
    from lifeboat.core.history.point_check import narrowed_check
    from lifeboat.core.history.points import RewrittenPages, rebuild_point, resolve_point
    from lifeboat.core.manifest import read_manifest
    from lifeboat.core.private import private_dir
    from lifeboat.core.runs import start_run

    times: dict[str, float] = {}
    started = time.perf_counter()
    cpu = time.process_time()
    run = start_run(root / "run")
    folder = private_dir(root / "snapshots" / "notes", "snapshot folder")
    segments = list_segments(folder, "notes").segments
    at_us = int(datetime.fromisoformat((root / "target.txt").read_text()).timestamp() * 1e6)
    if after_s is not None:  # a point that far after the history's first commit
        at_us = min(s.first_time_us for s in segments) + int(after_s * 1e6)
    points = []
    for base_id in {s.base_id for s in segments}:
        manifest = next(folder.glob(f"notes-*-{base_id}.json"), None)
        if manifest is not None:
            base = BaseRef(read_manifest(manifest), folder)
            points.append(resolve_point(base, chain_of(segments, base_id), at_us))
    point = max((p for p in points if p is not None), key=lambda p: p.time_us)
    times["resolve"] = time.perf_counter() - started
    marks: dict[str, float] = {}

    owners = base_owners(point.base) if narrowed else None

    def timed_check(path: Path, written: RewrittenPages) -> None:
        marks["check_start"] = time.perf_counter()
        outcome = narrowed_check(path, written, owners, check) if owners else None
        marks["narrowed"] = float(outcome is not None)
        if outcome is None:
            outcome = check_database(path, check)
        assert outcome.ok, outcome.summary
        marks["check_end"] = time.perf_counter()

    scratch = run.scratch(root / "t")
    if check == "none":
        rebuild_point(point, out, run, scratch, kept=True)
        times["write+fsync"] = time.perf_counter() - started - times["resolve"]
    elif sequential:
        rebuild_point(point, out, run, scratch, kept=True)
        times["write+fsync"] = time.perf_counter() - started - times["resolve"]
        at = time.perf_counter()
        assert check_database(out, check).ok
        times["check"] = time.perf_counter() - at
    else:
        rebuild_point(point, out, run, scratch, timed_check, kept=True)
        times["write"] = marks["check_start"] - started - times["resolve"]
        times["check"] = marks["check_end"] - marks["check_start"]
        times["after_check"] = time.perf_counter() - marks["check_end"]
        times["narrowed"] = marks["narrowed"]
    times["total"] = time.perf_counter() - started
    times["cpu"] = time.process_time() - cpu
    return times


@contextlib.contextmanager
def rebuilt_by(way: str) -> Iterator[None]:
    """The rebuild made to write its pages `way` (see --ways) for the block: blocks, or
    direct with an option after a "-": wb / nowb (writeback started while writing
    forced on / off), cached (no O_DIRECT)."""
    from lifeboat.core.history import rebuild

    name, _, options = way.partition("-")
    flags = set(options.split("-")) - {""}
    if name not in ("direct", "blocks") or flags - {"wb", "nowb", "cached"}:
        raise SystemExit(f"unknown way {way!r}: see --ways")
    fits, direct = rebuild.fits, rebuild.write_direct
    if name == "blocks":
        rebuild.fits = lambda *args: False
    if flags & {"wb", "nowb"}:
        flush = "wb" in flags
        rebuild.write_direct = lambda *a, **k: direct(*a, **{**k, "flush_while_writing": flush})
    buffered = os.environ.get("LIFEBOAT_BUFFERED_WRITES")
    if "cached" in flags:
        os.environ["LIFEBOAT_BUFFERED_WRITES"] = "1"
    try:
        yield
    finally:
        rebuild.fits, rebuild.write_direct = fits, direct
        if buffered is None:
            os.environ.pop("LIFEBOAT_BUFFERED_WRITES", None)
        else:
            os.environ["LIFEBOAT_BUFFERED_WRITES"] = buffered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--commits", type=int, default=25_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--payload", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", default="quick", choices=("quick", "full", "none"))
    parser.add_argument(
        "--after-s",
        type=float,
        help="restore the point this many seconds after the first commit (default: the last)",
    )
    parser.add_argument(
        "--most",
        type=float,
        help="the share of the file the touched b-trees may hold for the narrowed check "
        "(point_check._MOST) in this run, to measure it past its limit",
    )
    parser.add_argument(
        "--sequential", action="store_true", help="fsync, publish, then check (as before)"
    )
    parser.add_argument(
        "--ways",
        default="direct",
        help="how the pages are written, compared in each round: direct (the threads "
        "that make the pages write them), blocks (in order, by one writer thread: any "
        "base that is not seekable, and every base before session 28), e.g. direct,blocks",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="a capture folder already made (e.g. bench/out/continuous/hour-lifeboat): "
        "its last point is restored",
    )
    parser.add_argument(
        "--skip-whole", action="store_true", help="no restore with SQLite's whole check"
    )
    args = parser.parse_args()
    if args.most is not None:
        from lifeboat.core.history import point_check

        point_check._MOST = args.most
    if args.root is not None:
        root = args.root
        polls = json.loads((root / "polls.json").read_text())["polls"]
        last = max(end for _, end, took, _ in polls if took)
        (root / "target.txt").write_text(datetime.fromtimestamp(last, UTC).isoformat())
    else:
        root = build(args.size_mb, args.commits, args.rate, args.payload)
    out = root / "restored.db"
    out.unlink(missing_ok=True)
    # the point's database, for the baselines
    timed_restore(root, out, "none", False, after_s=args.after_s)
    point_mb = round(os.path.getsize(out) / (1 << 20), 1)
    artifact = root / "full.sqlite.zst"
    subprocess.run(["zstd", "-q", "-3", "-T0", "-f", str(out), "-o", str(artifact)], check=True)
    out.unlink()
    rows: list[dict[str, float]] = []
    for _ in range(args.rounds):
        row: dict[str, float] = {}
        ways = args.ways.split(",")
        for way in ways:
            os.sync()
            with rebuilt_by(way):
                times = timed_restore(root, out, args.check, args.sequential, after_s=args.after_s)
            out.unlink()
            # the first way's figures unsuffixed: the ratios below are its
            row.update(times if way == ways[0] else {f"{k}_{way}": v for k, v in times.items()})
        if (
            not (args.sequential or args.skip_whole) and args.check != "none"
        ):  # the whole check, same round
            os.sync()
            with rebuilt_by(ways[0]):
                whole = timed_restore(
                    root, out, args.check, False, narrowed=False, after_s=args.after_s
                )
            out.unlink()
            row.update({f"whole_{k}": v for k, v in whole.items() if k != "narrowed"})
        for name, extra in (("zstd_d", []), ("zstd_d_fsync", [["sync", str(out)]])):
            os.sync()
            at = time.perf_counter()
            subprocess.run(["zstd", "-d", "-q", "-f", str(artifact), "-o", str(out)], check=True)
            for command in extra:
                subprocess.run(command, check=True)
            row[name] = time.perf_counter() - at
            out.unlink()
        rows.append({k: round(v, 3) for k, v in row.items()})
        print(json.dumps(rows[-1]), flush=True)
    summary = {k: round(median([r[k] for r in rows]), 3) for k in rows[0]}
    summary["restore_vs_zstd_d"] = round(summary["total"] / summary["zstd_d"], 2)
    summary["restore_vs_zstd_d_fsync"] = round(summary["total"] / summary["zstd_d_fsync"], 2)
    for way in args.ways.split(",")[1:]:
        summary[f"{way}_vs_zstd_d"] = round(summary[f"total_{way}"] / summary["zstd_d"], 2)
    summary["point_mb"] = point_mb
    summary["load_1min"] = round(os.getloadavg()[0], 2)
    print("median", json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
