"""The tray's memory around a large manual backup (bench/gui_bench.py --large-mb N).

`large_backup_runs` adds an N MB database (backed up only by hand, so nothing runs at
start) and runs `child_backup` in a process of its own: a TrayApp on Qt's offscreen
platform that idles, backs the database up through "Back up now", and reports its RSS
(and anonymous RSS) at each point as one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication

from bench.dbgen import build_database

POINTS = ("idle_before", "backup_ended", "after_5s", "after_later")


_LIFEBOAT = [sys.executable, "-m", "lifeboat"]


def large_backup_runs(
    work: Path, env: dict[str, str], size_mb: int, after_s: float, compare: bool
) -> dict[str, object]:
    db = build_database(work / "big.db", size_mb << 20, seed=7)
    runs: dict[str, object] = {}
    for trim in (True, False) if compare else (True,):
        name = "big-trim" if trim else "big-no-trim"  # each a first, full backup
        copy = work / f"{name}.db"
        shutil.copyfile(db, copy)
        subprocess.run(
            [*_LIFEBOAT, "source", "add", str(copy), "--name", name, "--schedule", "manual"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        runs["with_trim" if trim else "without_trim"] = _child(env, name, trim, after_s)
    return {"database_mb": round(db.stat().st_size / 1e6), "after_s": after_s, **runs}


def _child(env: dict[str, str], source: str, trim: bool, after_s: float) -> object:
    bench = Path(__file__).resolve().parent / "gui_bench.py"
    command = [sys.executable, str(bench), "--child-backup", source, "--after-s", str(after_s)]
    done = subprocess.run(
        [*command, *([] if trim else ["--no-trim"])],
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS:", "RssAnon:"))
    }
    return {"rss": round(values["VmRSS"] / 1024, 1), "anon": round(values["RssAnon"] / 1024, 1)}


def child_backup(source: str, *, trim: bool, after_s: float) -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    from lifeboat.gui import memory

    if not trim:  # the tray as it was: freed memory stays with the allocator
        memory.release_free_memory = lambda: False
    from lifeboat.gui.app import TrayApp
    from lifeboat.service import Service

    tray = TrayApp(Service(), use_tray=False)
    tray.start(show_window=False)
    _spin(app, lambda: tray.status.status is not None, 30)
    _spin(app, lambda: False, 5)  # start-up work settles
    points = {"idle_before": rss_mb()}
    started = time.monotonic()
    tray.backup_now(source)
    backup = tray.backups.manual.backups[source]
    _spin(app, lambda: backup.stage.over, 1800)
    points["backup_ended"] = rss_mb()
    seconds = round(time.monotonic() - started, 1)
    _spin(app, lambda: False, 5)
    points["after_5s"] = rss_mb()
    _spin(app, lambda: False, max(after_s - 5, 0))
    points["after_later"] = rss_mb()
    tray.shutdown()
    print(json.dumps({"trim": trim, "backup_s": seconds, "result": backup.message, **points}))


def _spin(app: QCoreApplication, until: Callable[[], bool], seconds: float) -> None:
    """Run the event loop until `until()` or for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        app.processEvents()
        time.sleep(0.02)
