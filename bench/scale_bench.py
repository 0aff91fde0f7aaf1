"""Scale benchmark (issue 22): 100 sources with 10,000 snapshots against a small home.

Makes two homes with bench/catalog_gen.py (or takes them: --big, --small): the big one
with --sources sources and --snapshots snapshots, the small one with --small-sources
sources (5) and --small-snapshots snapshots (10); 100 and 200 tell what grows with the
sources from what grows with the snapshots. Then, each figure for both homes in the same run:
- `lifeboat status` and `lifeboat snapshots`, --rounds times interleaved with
  `python -c pass` (bench/startup_bench.py's timing: wall and CPU time, ratios);
- the History window: the time from creating it until its tables are filled and drawn,
  with the newest snapshots it shows first and with all of them, in a child process on
  Qt's offscreen platform (--history-rounds times in one process, after one unmeasured
  opening that loads the code);
- the tray idling (bench/gui_bench.py's idle_run): RSS and CPU over --idle-s seconds;
- `lifeboat catalog rebuild` of the big home (last: it rewrites that catalog).

Usage: python bench/scale_bench.py [--big HOME] [--small HOME] [--sources 100]
           [--snapshots 10000] [--small-sources 5] [--small-snapshots 10] [--rounds 7]
           [--history-rounds 3] [--idle-s 30] [--skip-tray] [--skip-rebuild] [--tray-only]
Goals (issue 22): status and snapshots <= 0.3 s with 10,000 snapshots; History opens in
<= 0.5 s; the tray's idle CPU and RSS unchanged; catalog rebuild: measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.catalog_gen import build_home
from bench.common import report
from bench.startup_bench import COMMANDS, time_commands
from bench.startup_bench import _env as startup_env

TIMED = ("lifeboat status", "lifeboat snapshots")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big", type=Path)
    parser.add_argument("--small", type=Path)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--small-sources", type=int, default=5)
    parser.add_argument("--small-snapshots", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--history-rounds", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--skip-tray", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument(
        "--tray-only", action="store_true", help="only the tray's idle figures (both homes)"
    )
    parser.add_argument("--history-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.history_child:
        print(json.dumps(history_open_times(args.history_child, args.history_rounds)))
        return
    with tempfile.TemporaryDirectory(prefix="lb-scale-") as scratch:
        homes = _homes(args, Path(scratch))
        figures: dict[str, object] = {"homes": {k: str(v) for k, v in homes.items()}}
        if not args.tray_only:
            figures["cli"] = _cli(homes, args.rounds)
            figures["history_open_s"] = {
                label: _history_in_child(home, args.history_rounds) for label, home in homes.items()
            }
        if not args.skip_tray:
            figures["tray_idle"] = {
                label: _tray_idle(home, args.idle_s) for label, home in homes.items()
            }
        if not args.skip_rebuild and not args.tray_only:
            figures["catalog_rebuild_s"] = _rebuild(homes["big"])
    report("scale_bench", figures)


def _homes(args: argparse.Namespace, scratch: Path) -> dict[str, Path]:
    big, small = args.big, args.small
    if big is None or not big.exists():
        big = big or scratch / "big"
        started = time.perf_counter()
        build_home(big, args.sources, args.snapshots)
        print(f"generated {big} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if small is None or not small.exists():
        small = small or scratch / "small"
        build_home(small, args.small_sources, args.small_snapshots)
    return {"big": big, "small": small}


def _cli(homes: dict[str, Path], rounds: int) -> dict[str, dict[str, float]]:
    runs = {"python -c pass": (COMMANDS["python -c pass"], startup_env(homes["small"]))}
    for label, home in homes.items():
        for name in TIMED:
            runs[f"{name} ({label})"] = (COMMANDS[name], startup_env(home))
    return time_commands(runs, rounds)


def history_open_times(home: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds from creating the History window until its tables are filled and drawn
    (the first opening, which loads the code, not counted): with the newest snapshots
    it shows at once ("first_rows"), and with all of them ("all_rows")."""
    os.environ["LIFEBOAT_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from lifeboat.gui.bridge import EventBridge
    from lifeboat.gui.history_dialog import HistoryDialog
    from lifeboat.service import Service

    app = QApplication.instance() or QApplication([])
    service, bridge = Service(), EventBridge()
    times: dict[str, list[float]] = {"first_rows": [], "all_rows": []}
    for _ in range(rounds + 1):
        started = time.perf_counter()
        dialog = HistoryDialog(service, bridge, restore=lambda _ref: None)
        dialog.show()
        for name, counter in (("first_rows", "shown"), ("all_rows", "loaded")):
            while getattr(dialog, counter) == 0:
                app.processEvents()
                time.sleep(0.001)  # the rows are read on a worker thread
            dialog.repaint()  # drawn with its rows
            app.processEvents()
            times[name].append(time.perf_counter() - started)
        dialog.close()
        app.processEvents()
    return {name: [round(t, 3) for t in found[1:]] for name, found in times.items()}


def _history_in_child(home: Path, rounds: int) -> dict[str, list[float]]:
    env = startup_env(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(
        [sys.executable, __file__, "--history-child", str(home), "--history-rounds", str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _tray_idle(home: Path, seconds: float) -> dict[str, object]:
    from bench.gui_bench import idle_run

    env = startup_env(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return idle_run(env, home, seconds)


def _rebuild(home: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lifeboat", "catalog", "rebuild"],
        env=startup_env(home),
        check=True,
        capture_output=True,
    )
    return round(time.perf_counter() - started, 2)


if __name__ == "__main__":
    main()
