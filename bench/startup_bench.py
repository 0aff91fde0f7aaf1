"""CLI start-up benchmark: `lifeboat --version`, `status` and `snapshots` against
`python -c pass`, interleaved in the same run.

Sets up a LIFEBOAT_HOME with --sources sources, each backed up once (a small real
database), compiles the code to bytecode first (an installed Lifeboat has .pyc files; a
PYTHONDONTWRITEBYTECODE environment would otherwise time the compiler), then runs each
command --rounds times in turn and reports, per command, the median and the best wall
time, the median CPU time (user + system, less sensitive to a loaded machine than wall
time) and both as ratios to `python -c pass`.

With --home PATH it times the commands against that home instead (e.g. one
bench/catalog_gen.py made: 100 sources, 10,000 snapshots). With --compare-app PATH it
also times `status` and `snapshots` of another tree's code (e.g. a checkout of main
before a change: `git worktree add /tmp/lb-main main`, then --compare-app
/tmp/lb-main/app), interleaved with the rest.

Usage: python bench/startup_bench.py [--rounds 15] [--sources 2] [--home PATH]
                                     [--compare-app PATH]
Goal (issue 22): each command <= 0.12 s (Python's own start ~0.02 s).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median, report

APP = Path(__file__).resolve().parent.parent / "app"
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "lifeboat --version": ["-m", "lifeboat", "--version"],
    "lifeboat status": ["-m", "lifeboat", "status"],
    "lifeboat snapshots": ["-m", "lifeboat", "snapshots"],
}
#: Timed with the --compare-app code too.
COMPARED = ("lifeboat --version", "lifeboat status", "lifeboat snapshots")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sources", type=int, default=2)
    parser.add_argument("--home", type=Path, help="time against this home (not made here)")
    parser.add_argument("--compare-app", type=Path, help="also time this tree's app/ code")
    args = parser.parse_args()
    apps = {"": APP} | ({" (compared)": args.compare_app} if args.compare_app else {})
    for app in apps.values():
        compileall.compile_dir(app, quiet=1)
    with tempfile.TemporaryDirectory(prefix="lb-startup-") as scratch:
        home = args.home or _small_home(Path(scratch), args.sources)
        runs = {
            name + label: (argv, _env(home, app))
            for label, app in apps.items()
            for name, argv in COMMANDS.items()
            if not label or name in COMPARED
        }
        figures = time_commands(runs, args.rounds)
    report("startup_bench", {"home": str(home), "rounds": args.rounds, **figures})


def time_commands(
    runs: dict[str, tuple[list[str], dict[str, str]]], rounds: int
) -> dict[str, dict[str, float]]:
    """Each command `rounds` times, interleaved (so load changes hit all alike)."""
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for argv, env in runs.values():  # once each, unmeasured: warm caches
        _run(argv, env)
    for _ in range(rounds):
        for name, (argv, env) in runs.items():
            wall, cpu = _run(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base_wall, base_cpu = median(walls["python -c pass"]), median(cpus["python -c pass"])
    return {
        name: {
            "wall_median_s": round(median(walls[name]), 4),
            "wall_best_s": round(min(walls[name]), 4),
            "cpu_median_s": round(median(cpus[name]), 4),
            "wall_ratio_to_python": round(median(walls[name]) / base_wall, 2),
            "cpu_ratio_to_python": round(median(cpus[name]) / base_cpu, 2),
        }
        for name in runs
    }


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of the interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], env=env, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv!r} failed: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _env(home: Path, app: Path = APP) -> dict[str, str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home), "PYTHONPATH": str(app)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _small_home(scratch: Path, sources: int) -> Path:
    """A home with `sources` sources, each with one snapshot of a small database."""
    import sqlite3

    home = scratch / "home"
    env = _env(home)
    for n in range(sources):
        db = scratch / f"db{n}.sqlite"
        with sqlite3.connect(db) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
            con.executemany("INSERT INTO notes(body) VALUES (?)", [("x" * 200,)] * 500)
        for argv in (["source", "add", str(db), "--name", f"db{n}"], ["backup", f"db{n}"]):
            subprocess.run(
                [sys.executable, "-m", "lifeboat", *argv], env=env, check=True, capture_output=True
            )
    return home


if __name__ == "__main__":
    main()
