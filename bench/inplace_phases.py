"""Where an in-place restore's time goes, phase by phase and thread by thread (issue 22).

    PYTHONPATH=$PWD/app python -m bench.inplace_phases [--size-mb 256] [--rounds 3]

A copy of the bench database (bench/out/bench-<size>mb.db) is added as a source and
backed up once; then, `--rounds` times, --changed-rows rows of it are changed (untimed)
and the snapshot is restored in place over it in this process (the CLI's own `restore ID
--yes`), each phase's start and end recorded with the thread it ran on and that thread's
CPU time: the extraction (hash, decompress, proof) into scratch, the check it may owe,
the safety snapshot (its base proof, the snapshot itself), the backup API's steps (how
long they waited for the extraction, for the commit's gate, and the committing step with
its fsync), the checkpoint (with its fsync). In the same round `zstd -d` of the artifact,
for the ratio. The machine may be shared: the figures are this run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import lifeboat_env
from bench.dbgen import bench_database, update_rows

Mark = tuple[str, str, float, float, float]  # label, thread, start, end, thread CPU
MARKS: list[Mark] = []


def traced(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            name = threading.current_thread().name
            MARKS.append((label, name, start, time.perf_counter(), time.thread_time() - cpu))

    return wrapper


def trace(module: str, attr: str, label: str) -> None:
    owner: Any = importlib.import_module(module)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    setattr(owner, name, traced(label, getattr(owner, name)))


def instrument() -> None:
    trace("lifeboat.jobs.restore_extract", "SnapshotExtraction.extract", "extract+proof")
    trace("lifeboat.jobs.restore_extract", "SnapshotExtraction.check_owed", "check owed")
    trace("lifeboat.jobs.restore", "RestoreJob._safety_copy", "safety snapshot (all)")
    trace("lifeboat.jobs.restore", "RestoreJob._prove", "safety: base proof")
    trace("lifeboat.jobs.backup", "take_snapshot", "safety: take_snapshot")
    trace("lifeboat.jobs.restore_in_place", "holds_restored", "unchanged proof")
    trace("lifeboat.core.restore", "checkpoint", "checkpoint+fsync")
    trace("lifeboat.core.restore", "close_when_settled", "close target connection")
    trace("lifeboat.jobs.restore", "write_in_place", "write_in_place (all)")
    trace("lifeboat.jobs.restore", "RestoreJob.run", "job run")
    trace("lifeboat.core.snapshot_frozen", "check_connection", "safety: its check")
    trace("lifeboat.core.snapshot_frozen", "inventory_of", "safety: row counts")
    trace("lifeboat.core.snapshot_frozen", "pack", "safety: hash pass + pack")
    trace("lifeboat.jobs.restore", "RestoreJob.prepare", "job prepare")
    import lifeboat.core.restore as restore

    original = restore.copy_into

    def copy_into(
        verified: Path,
        conn: Any,
        busy: float,
        progress: Any,
        cancel: Any,
        gate: Callable[[], object],
        reading: Any,
        held: Callable[[bool], bool],
    ) -> None:
        opened: list[float] = []

        def gated() -> object:
            result = traced("steps: wait for gate", gate)()
            opened.append(time.perf_counter())
            return result

        start = time.perf_counter()
        try:
            original(
                verified,
                conn,
                busy,
                progress,
                cancel,
                gated,
                dataclasses.replace(
                    reading, ready=traced("steps: wait for extraction", reading.ready)
                ),
                held,
            )
        finally:
            end = time.perf_counter()
            name = threading.current_thread().name
            MARKS.append(("backup steps (all)", name, start, end, 0.0))
            if opened:
                MARKS.append(("steps: commit step+fsync", name, opened[-1], end, 0.0))

    restore.copy_into = copy_into  # type: ignore[assignment]


def one_round(
    snap_id: str, db: Path, fraction: float, seed: int, artifact: Path, work: Path
) -> dict[str, Any]:
    from lifeboat.cli.main import main as cli

    update_rows(db, fraction, seed=seed)
    os.sync()
    started = time.perf_counter()
    subprocess.run(
        ["zstd", "-d", "-q", "-f", str(artifact), "-o", str(work / "plain.db")], check=True
    )
    zstd = time.perf_counter() - started
    (work / "plain.db").unlink()
    os.sync()
    MARKS.clear()
    started, cpu = time.perf_counter(), time.process_time()
    code = cli(["restore", snap_id, "--yes"])
    wall = time.perf_counter() - started
    assert code == 0, code
    phases = [
        {
            "phase": label,
            "thread": thread,
            "from": round(a - started, 3),
            "to": round(b - started, 3),
            "cpu": round(c, 3),
        }
        for label, thread, a, b, c in sorted(MARKS, key=lambda m: m[2])
    ]
    return {
        "wall": round(wall, 3),
        "cpu": round(time.process_time() - cpu, 3),
        "zstd_d": round(zstd, 3),
        "ratio": round(wall / zstd, 2),
        "phases": phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changed-rows", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (profiling)")
    args = parser.parse_args()
    work, db = bench_database(f"inplace-phases-{args.size_mb}", args.size_mb, "live.db")
    env = lifeboat_env(work / "home")
    os.environ.update(env)
    cmd = [sys.executable, "-m", "lifeboat"]
    subprocess.run(
        [*cmd, "source", "add", str(db), "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
    )
    snap = json.loads(
        subprocess.run(
            [*cmd, "backup", "bench", "--json"], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    import sqlite3

    top = sqlite3.connect(db).execute("select max(id) from notes").fetchone()[0]
    instrument()
    for n in range(args.rounds):
        result = one_round(
            snap["id"], db, min(1.0, args.changed_rows / top), 500 + n, Path(snap["path"]), work
        )
        print(
            f"round {n + 1} (load {os.getloadavg()[0]:.2f}): wall {result['wall']} s, "
            f"cpu {result['cpu']} s, zstd -d {result['zstd_d']} s, ratio {result['ratio']}x"
        )
        for p in (p for p in result["phases"] if p["to"] - p["from"] > 0.002):
            print(
                f"  {p['from']:7.3f} -> {p['to']:7.3f} ({p['to'] - p['from']:6.3f} s, cpu "
                f"{p['cpu']:6.3f}) {p['thread']:<22} {p['phase']}"
            )
    if args.keep:
        print(f"kept: LIFEBOAT_HOME={work / 'home'} snapshot {snap['id']} database {db}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
