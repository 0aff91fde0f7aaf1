"""The contenders of bench/continuous_bench.py and what watches them.

Lifeboat's follower runs in a process of its own (`python -m bench.continuous_contenders
follow ROOT DB POLLS_JSON INTERVAL`), logging each poll (start, end, commits taken,
segments written); `restore` rebuilds a point the same way. Litestream runs as
`litestream replicate` to a file replica. WalWatch samples the app's -wal (size,
checkpoint sequence); FileWatch notes when Litestream's replica files appear.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "app"), str(REPO)])}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class WalWatch:
    """Samples the -wal's size and header (checkpoint sequence) every 50 ms."""

    def __init__(self, db: Path) -> None:
        self.wal = Path(f"{db}-wal")
        self.largest = 0
        self.sequences: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                with open(self.wal, "rb") as fh:
                    head = fh.read(32)
                    self.largest = max(self.largest, os.fstat(fh.fileno()).st_size)
            except OSError:
                continue
            if len(head) == 32:
                self.sequences.add(int.from_bytes(head[12:16], "big"))

    def stop(self) -> dict[str, object]:
        self._stop.set()
        self._thread.join()
        return {
            "wal_largest_mb": round(self.largest / (1 << 20), 2),
            "wal_restarts_seen": max(0, len(self.sequences) - 1),
        }


class FileWatch:
    """First-seen times of new files in a folder (Litestream's level-0 replica files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                names = os.listdir(self.folder)
            except OSError:
                continue
            now = time.time()
            for name in names:
                self.seen.setdefault(name, now)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return sorted(self.seen.values())


# -- the contenders ---------------------------------------------------------------------


class Lifeboat:
    """The follower in a process of its own (`follow` below), with its poll log."""

    name = "lifeboat"

    def __init__(self, root: Path, db: Path, interval: float) -> None:
        self.root = root
        self.polls = root / "polls.json"
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.continuous_contenders",
                "follow",
                str(root),
                str(db),
                str(self.polls),
                str(interval),
            ],
            cwd=REPO,
            env=env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "following", line
        self.start_s = time.perf_counter() - started
        self.start_cpu_s = cpu_seconds(self.proc.pid)

    def stop(self) -> list[tuple[float, float, int, int]]:
        """(start, end, commits taken, segments written) of each poll."""
        self.peak_rss_mb = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        logged = json.loads(self.polls.read_text())
        self.status = logged["status"]  # the follower's Status, as a dict
        return [(a, b, c, d) for a, b, c, d in logged["polls"]]


class Litestream:
    name = "litestream"

    def __init__(self, root: Path, db: Path) -> None:
        self.replica = root / "replica"
        self.config = root / "litestream.yml"
        self.db = db
        self.config.write_text(
            f"dbs:\n  - path: {db}\n    replica:\n      type: file\n      path: {self.replica}\n"
        )
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            ["litestream", "replicate", "-config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "litestream.log", "w"),  # noqa: SIM115
        )
        snapshots = self.replica / "ltx" / "9"
        while not (snapshots.exists() and os.listdir(snapshots)):
            if self.proc.poll() is not None:
                raise RuntimeError("litestream stopped; see litestream.log")
            time.sleep(0.05)
        self.start_s = time.perf_counter() - started
        self.start_cpu_s = cpu_seconds(self.proc.pid)
        self.files = FileWatch(self.replica / "ltx" / "0")

    def stop(self) -> list[float]:
        self.peak_rss_mb = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        return self.files.stop()


def recovery_lifeboat(
    samples: list[tuple[float, float]], polls: list[tuple[float, float, int, int]]
) -> list[float]:
    """Commit end -> end of the first poll that started after it and wrote a segment
    (that poll read the WAL after the commit, so its segment holds it; an upper bound:
    an earlier one may have)."""
    writing = [(start, end) for start, end, _took, wrote in polls if wrote]
    out = []
    at = 0
    for wall, latency in samples:
        committed = wall + latency
        while at < len(writing) and writing[at][0] < committed:
            at += 1
        if at < len(writing):
            out.append(writing[at][1] - committed)
    return out


def recovery_files(samples: list[tuple[float, float]], seen: list[float]) -> list[float]:
    out = []
    at = 0
    for wall, latency in samples:
        committed = wall + latency
        while at < len(seen) and seen[at] < committed:
            at += 1
        if at < len(seen):
            out.append(seen[at] - committed)
    return out


# -- the subprocesses -------------------------------------------------------------------


def follow_main(root: Path, db: Path, polls_path: Path, interval: float) -> None:
    from tests.core.history.helpers import make_capture

    capture = make_capture(root, db)
    follower = capture.follower(write_every_s=0.5)  # the defaults, as the host runs it
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    follower.start()
    print("following", flush=True)
    polls: list[tuple[float, float, int, int]] = []
    while not stop.wait(interval):
        began, written = time.time(), follower.status.segments
        took = follower.poll()
        polls.append((began, time.time(), took, follower.status.segments - written))
    began, written = time.time(), follower.status.segments
    follower.close()  # writes what waits
    polls.append((began, time.time(), 0, follower.status.segments - written))
    status = dataclasses.asdict(follower.status)
    polls_path.write_text(json.dumps({"polls": polls, "status": status}))


def restore_main(root: Path, db: Path, at: str, out: Path, check: str = "quick") -> None:
    """Rebuild the point at `at` as a restore does, importing only what a restore uses
    (not the follower and its numpy: their import time is not the restore's): with the
    source's integrity check (`check`, a source's default "quick"; jobs/restore_point:
    run on the finished file beside its fsync, before it is published), or "none" (the
    rebuild alone, as the bench measured it before session 27)."""
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.chain import chain_of, list_segments
    from lifeboat.core.history.points import rebuild_point, resolve_point
    from lifeboat.core.manifest import read_manifest
    from lifeboat.core.private import private_dir
    from lifeboat.core.results import PointChoice
    from lifeboat.core.runs import start_run
    from lifeboat.jobs.restore_point import point_check

    run = start_run(root / "run")
    folder = private_dir(root / "snapshots" / "notes", "snapshot folder")
    segments = list_segments(folder, "notes").segments
    moment = datetime.fromisoformat(at)
    at_us = int(moment.timestamp() * 1_000_000)
    for base_id in {s.base_id for s in segments}:
        manifest = next(folder.glob(f"notes-*-{base_id}.json"), None)
        if manifest is None:
            continue
        base = BaseRef(read_manifest(manifest), folder)
        point = resolve_point(base, chain_of(segments, base_id), at_us)
        if point is not None:
            choice = PointChoice("notes", moment, base_id, point.commit_seq, moment, point.flags)
            checking = point_check(choice, check, base)
            # kept: a restore --to's file (jobs/restore.py)
            rebuild_point(point, out, run, run.scratch(root / "temp"), checking, kept=True)
            return
    raise SystemExit("no point")


def main() -> None:
    if sys.argv[1] == "follow":
        follow_main(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5]))
    elif sys.argv[1] == "restore":
        restore_main(
            Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5]), *sys.argv[6:]
        )
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
