"""Shared plumbing for the benchmark scripts: timing, processes, reporting."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
WRITER = BENCH / "writer.py"


def lifeboat_env(home: Path) -> dict[str, str]:
    return {**os.environ, "LIFEBOAT_HOME": str(home)}


def run_timed(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    shell: bool = False,
    memory: dict[str, int] | None = None,
    stdout: IO[str] | None = None,
    cpu: dict[str, float] | None = None,
) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS of the child in KB).

    With `memory`, also sample the child's anonymous memory (RssAnon: what it really
    takes from RAM, without file pages it maps) every 20 ms into memory["anon_kb"].
    With `cpu`, its user + system CPU seconds go into cpu["seconds"] (steadier than
    wall time on a loaded machine).
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, shell=shell, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if memory is not None:
        memory["anon_kb"] = max(memory.get("anon_kb", 0), _sample_anon(proc))
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if cpu is not None:
        cpu["seconds"] = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{cmd!r} failed ({proc.returncode}): {err}")
    return elapsed, int(usage.ru_maxrss)


def _sample_anon(proc: subprocess.Popen[bytes]) -> int:
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return peak
        if "State:\tZ" in text:
            return peak
        for line in text.splitlines():
            if line.startswith("RssAnon:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.02)


def warm(path: Path) -> None:
    """Read a file once so every contender starts from a warm page cache."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def drop_file(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        sys.exit(f"these benchmarks need: {', '.join(missing)}")


class WriterProcess:
    """A writer committing every `interval` seconds; latencies come back on stop()."""

    def __init__(
        self,
        db: Path,
        interval: float,
        out: Path,
        payload: int = 100,
        commits: int | None = None,
    ) -> None:
        self.out = out
        extra = [str(payload)] + ([str(commits)] if commits is not None else [])
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(interval), str(out), *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> list[tuple[float, float]]:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return self.samples()

    def finish(self, timeout: float | None = None) -> list[tuple[float, float]]:
        """Wait for a writer given a number of commits to end by itself."""
        self.proc.wait(timeout=timeout)
        return self.samples()

    def samples(self) -> list[tuple[float, float]]:
        rows = [line.split() for line in self.out.read_text().splitlines() if line.strip()]
        return [(float(a), float(b)) for a, b in rows]


def latency_summary(
    samples: list[tuple[float, float]], start: float, end: float
) -> dict[str, float]:
    during = [lat for wall, lat in samples if start <= wall <= end]
    return {
        "commits": len(during),
        "p50_ms": percentile(during, 50) * 1000,
        "p99_ms": percentile(during, 99) * 1000,
        "max_ms": max(during, default=float("nan")) * 1000,
    }


def report(name: str, data: dict[str, object]) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))
    print(json.dumps(data, indent=2))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
