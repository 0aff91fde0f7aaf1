"""Packaged-build benchmark: the size of the one-folder bundle and of the .deb, and the
start-up time of the frozen executable for `--version` and for the tray.

Build first (python packaging/build.py --installer). By default it measures the built
bundle, dist/lifeboat/lifeboat; --binary /usr/bin/lifeboat measures an installed one.
The tray runs with one source already backed up and is timed from launch until it logs
that its icon (or window) is shown; each launch is stopped with SIGTERM. --display
offscreen (default) uses Qt's offscreen platform, where there is no tray, so the main
window opens instead; --display xvfb starts Xvfb and a system tray (trayer), as
bench/gui_bench.py does, so the real tray icon is shown. The first run of each kind is a cold start
as far as this process can make it (the page cache is not dropped: that needs root and
perturbs other work), the median is over the rest.

Usage: python bench/bundle_bench.py [--binary PATH] [--runs 5] [--display offscreen|xvfb]
Sizes in MiB (as du -h counts). Goal (issue 8): bundle <= 150 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, lifeboat_env, median, report
from bench.dbgen import build_database
from bench.gui_bench import Display, ready_count, stop, wait_shown

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--binary", type=Path, default=DIST / "lifeboat" / "lifeboat")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--display", choices=("offscreen", "xvfb"), default="offscreen")
    args = parser.parse_args()
    binary = args.binary.resolve()
    if not binary.is_file():
        sys.exit(f"no {binary}: build it with python packaging/build.py --installer")
    work = OUT / "bundle"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "home"
    env = lifeboat_env(home)
    db = build_database(work / "notes.db", 1 << 20, seed=1)
    for command in (["source", "add", str(db)], ["backup", "notes"]):
        subprocess.run([str(binary), *command], env=env, check=True, stdout=subprocess.DEVNULL)
    versions = [time_version(binary, env) for _ in range(args.runs)]
    display = Display(args.display, env)
    try:
        trays = [time_tray(binary, env, home) for _ in range(args.runs)]
    finally:
        display.stop()
    debs = sorted(DIST.glob("lifeboat_*.deb"))
    report(
        "bundle_bench",
        {
            "binary": str(binary),
            "bundle_mib": round(folder_bytes(binary.parent) / 2**20, 1),
            "bundle_files": sum(1 for p in binary.parent.rglob("*") if p.is_file()),
            "deb": debs[-1].name if debs else None,
            "deb_mib": round(debs[-1].stat().st_size / 2**20, 1) if debs else None,
            "version_s": {
                "first": round(versions[0], 3),
                "median": round(median(versions[1:] or versions), 3),
            },
            "display": args.display,
            "tray_to_shown_s": {
                "first": round(trays[0], 3),
                "median": round(median(trays[1:] or trays), 3),
            },
            "runs": args.runs,
            "goals": {"bundle_mib": 150},
        },
    )


def time_version(binary: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(binary), "--version"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_tray(binary: Path, env: dict[str, str], home: Path) -> float:
    skip = ready_count(home)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(binary), "tray"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    elapsed, _, _ = wait_shown(home, proc, started, skip)
    stop(proc)
    return elapsed


def folder_bytes(folder: Path) -> int:
    """Bytes on disk, as du counts them (symbolic links are not followed)."""
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


if __name__ == "__main__":
    main()
