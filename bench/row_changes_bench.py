"""How long counting a commit's row changes takes (core/history/row_changes.py).

    PYTHONPATH=$PWD/app python -m bench.row_changes_bench [--size-mb 256] [--each 5]

On a copy of the bench database (bench/dbgen.py), a follower takes its base (a full
snapshot) and captures commits of a few kinds, `--each` of each; then, for every commit,
a fresh reader of the chain (nothing cached) counts its row changes, timed: the figure
the restore wizard waits for; then all of them at once through one reader (the wizard's
list: the base's pages they need read ahead in one pass). Also: how many forward passes
over the base each needed and how far into the base it read (the worst case reads up to
the base's last page: a page whose newest image is the base's own is read by
decompressing the base up to it).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time

from bench.common import percentile, report
from bench.dbgen import bench_database, make_text
from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import chain_of, list_segments
from lifeboat.core.history.follower import Follower
from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.row_changes import commit_changes
from lifeboat.core.manifest import read_manifest
from lifeboat.core.private import private_dir
from lifeboat.core.runs import start_run
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import SnapshotRequest

SOURCE = "bench"


def _kinds(rng: random.Random, top: int) -> dict[str, list[str]]:
    def note() -> str:
        return make_text(rng, 1700).replace("'", "")

    some = ",".join(str(rng.randrange(1, top)) for _ in range(20))

    return {
        "insert one note": [f"insert into notes values (null, 't', '{note()}', 'x', 1)"],
        "update one random note": [
            f"update notes set body = '{note()}' where id = {rng.randrange(1, top)}"
        ],
        "delete 20 random notes": [f"delete from notes where id in ({some})"],
        "update 100 random notes": [
            f"update notes set updated_at = updated_at + 1 where id = {rng.randrange(1, top)}"
            for _ in range(100)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--each", type=int, default=5)
    args = parser.parse_args()
    work, db = bench_database("row-changes", args.size_mb, "bench.db")
    run = start_run(work / "run")
    folder = private_dir(work / "snapshots", "snapshot folder")
    scratch = run.scratch(work / "temp")

    def take_base() -> BaseRef:
        return BaseRef(take_snapshot(SnapshotRequest(SOURCE, db, folder, run, scratch)), folder)

    def open_base(base_id: str) -> BaseRef | None:
        for path in folder.glob(f"{SOURCE}-*-{base_id}.json"):
            return BaseRef(read_manifest(path), folder)
        return None

    follower = Follower(SOURCE, db, folder, run, scratch, take_base, open_base, write_every_s=0)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    top = conn.execute("select max(id) from notes").fetchone()[0]
    rng = random.Random(7)
    kinds: list[str] = []
    for _ in range(args.each):
        for kind, statements in _kinds(rng, top).items():
            conn.execute("begin")
            for sql in statements:
                conn.execute(sql)
            conn.execute("commit")
            follower.poll()
            kinds.append(kind)
    follower.close()
    conn.close()
    base_id = follower.status.chain
    assert base_id is not None
    base = open_base(base_id)
    assert base is not None
    segments = chain_of(list_segments(folder, SOURCE).segments, base_id)
    probe = ChainPages(base, segments, run, scratch)
    last = probe.segments[-1].commits[-1].seq
    probe.close()
    first = last - len(kinds) + 1
    timings: dict[str, list[float]] = {}
    samples = []
    for seq, kind in zip(range(first, last + 1), kinds, strict=True):
        started = time.perf_counter()
        pages = ChainPages(base, segments, run, scratch)
        try:
            written = pages.written(seq)
            found = commit_changes(pages.state(seq - 1), pages.state(seq), written)
            passes, reached = pages.base.passes, pages.base.reached
        finally:
            pages.close()
        took = time.perf_counter() - started
        timings.setdefault(kind, []).append(took)
        samples.append(
            {
                "kind": kind,
                "seconds": round(took, 4),
                "written_pages": len(written),
                "base_passes": passes,
                "base_read_to_page": reached,
                "changes": [c.__dict__ for c in found],
            }
        )
    # The wizard's list: every commit at once, one reader, the base read ahead once.
    started = time.perf_counter()
    pages = ChainPages(base, segments, run, scratch)
    try:
        seqs = list(range(first, last + 1))
        pages.read_ahead(seqs)
        for seq in seqs:
            commit_changes(pages.state(seq - 1), pages.state(seq), pages.written(seq))
        batch_passes = pages.base.passes
    finally:
        pages.close()
    batch = time.perf_counter() - started
    report(
        "row_changes",
        {
            "database_mb": args.size_mb,
            "base_pages": base.manifest.page_count,
            "by_kind": {
                kind: {
                    "median_s": round(percentile(values, 50), 4),
                    "max_s": round(max(values), 4),
                }
                for kind, values in timings.items()
            },
            "all_commits_at_once": {
                "commits": len(kinds),
                "seconds": round(batch, 4),
                "base_passes": batch_passes,
            },
            "samples": samples,
        },
    )


if __name__ == "__main__":
    main()
