"""Interleaved, rotated timing rounds of commands that write a file, robust on a shared machine.

`zstd -d`'s wall time swings with the page cache's dirty writeback: a decompression
that starts while the kernel flushes the previous command's output, or that leaves its
own 1 GiB dirty for the next command to wait behind, measures the disk's state rather
than the program. So here every run:

- starts from a clean page cache state: `os.sync()` before it (not timed), so nobody pays
  for another's dirty pages, and the artifact read once (warm) so nobody pays for a cold
  read;
- runs in rounds, each round running every contender once, in an order rotated from round
  to round (no contender always follows the same one);
- is reported per round and as medians, with ratios per round (both in the same round:
  the same load).

`zstd_d_fsync(artifact, out)` is the second baseline: `zstd -d` followed by an fsync of its
output (`sync FILE`), which is what a restore that makes its file durable compares with
(never instead of the plain `zstd -d` the issues use).

`compile_app()` compiles Lifeboat's modules once before timing: an installed copy has
its bytecode, while a checkout run with PYTHONDONTWRITEBYTECODE=1 recompiles every module
at each start (~0.15 s of every command here).
"""

from __future__ import annotations

import compileall
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import median, warm


@dataclass(frozen=True)
class Contender:
    cmd: list[str]
    env: dict[str, str] | None = None
    output: Path | None = None  # the file it writes, removed after each run
    #: run (untimed) before each of its runs, before the sync: e.g. change the database
    #: an in-place restore is about to write, so that it never measures a no-op
    before: Callable[[], object] | None = None


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds
    peak_rss_kb: int = 0


def compile_app() -> None:
    """Write the bytecode of the lifeboat package the benches run (see the docstring)."""
    import lifeboat

    compileall.compile_dir(str(Path(lifeboat.__file__).parent), quiet=1)


def zstd_d(artifact: Path, out: Path) -> Contender:
    return Contender(["zstd", "-d", "-q", "-f", str(artifact), "-o", str(out)], None, out)


def zstd_d_fsync(artifact: Path, out: Path) -> Contender:
    script = 'zstd -d -q -f "$1" -o "$2" && sync "$2"'
    return Contender(["sh", "-c", script, "sh", str(artifact), str(out)], None, out)


def interleaved_rounds(
    contenders: Mapping[str, Contender],
    rounds: int,
    warm_files: tuple[Path, ...] = (),
    on_round: Callable[[int, dict[str, Runs]], None] | None = None,
    keep_last: tuple[str, ...] = (),
) -> dict[str, Runs]:
    """Every contender once per round, the order rotated each round (see the docstring).
    The outputs of the contenders named in `keep_last` stay after the last round."""
    names = list(contenders)
    runs = {name: Runs() for name in names}
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            contender = contenders[name]
            if contender.before is not None:
                contender.before()
            for path in warm_files:
                warm(path)
            os.sync()
            wall, cpu, peak = measure(contender.cmd, contender.env)
            kept = round_no == rounds - 1 and name in keep_last
            if contender.output is not None and not kept:
                contender.output.unlink(missing_ok=True)
            runs[name].wall.append(wall)
            runs[name].cpu.append(cpu)
            runs[name].peak_rss_kb = max(runs[name].peak_rss_kb, peak)
        if on_round is not None:
            on_round(round_no, runs)
    return runs


def measure(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float, int]:
    """Run a command: (wall seconds, CPU seconds user + system, peak RSS in KB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd!r} failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)


def ratio(over: list[float], under: list[float]) -> dict[str, object]:
    """Per-round ratios (each of the same round) and their median."""
    per_round = [a / b for a, b in zip(over, under, strict=True)]
    return {"median": round(median(per_round), 3), "per_round": [round(r, 3) for r in per_round]}


def medians(runs: Mapping[str, Runs]) -> dict[str, object]:
    return {
        "median_seconds": {k: round(median(v.wall), 3) for k, v in runs.items()},
        "all_seconds": {k: [round(x, 3) for x in v.wall] for k, v in runs.items()},
        "median_cpu_seconds": {k: round(median(v.cpu), 3) for k, v in runs.items()},
        "peak_rss_mb": {k: round(v.peak_rss_kb / 1024, 1) for k, v in runs.items()},
    }
