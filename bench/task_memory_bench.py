"""What the tray's background tasks keep: memory growth per status read.

The tray reads each source's status in a background task (gui/workers.run_in_background)
every 60 s, and every 5 s while it watches a daemon, for as long as it runs. This runs
`--reads` such reads of a real home (one source, backed up once) in a QApplication on the
offscreen platform, in batches of a few at once as windows and the status ask, then the
same reads called directly on this thread (the baseline: what the read itself keeps),
and reports for each the RSS and the count of Python objects gained per 1,000 reads, and
the tray's growth a day at the 5 s interval.

Usage: PYTHONPATH=$PWD/app python bench/task_memory_bench.py [--reads 3000]
(With PYTHONPATH pointing at another checkout's app/, it measures that code's tasks.)
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.common import report

_AT_ONCE = 3
_WATCHING_READS_A_DAY = 24 * 3600 // 5


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_home(home: Path) -> None:
    db = home / "notes.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table notes(id integer primary key, body text)")
        conn.executemany("insert into notes(body) values (?)", [("x" * 100,)] * 1000)
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    for args in (["source", "add", str(db), "--name", "notes"], ["backup", "notes"]):
        subprocess.run([sys.executable, "-m", "lifeboat", *args], env=env, check=True)


def growth(run: Callable[[int], None], reads: int) -> dict[str, float]:
    run(min(300, reads))  # warm: caches, the pool's threads, the first imports
    gc.collect()
    rss, objects = rss_mb(), len(gc.get_objects())
    started = time.perf_counter()
    run(reads)
    seconds = time.perf_counter() - started
    gc.collect()
    per_k_mb = (rss_mb() - rss) * 1000 / reads
    return {
        "reads": reads,
        "seconds": round(seconds, 2),
        "rss_mb_per_1000_reads": round(per_k_mb, 3),
        "objects_per_read": round((len(gc.get_objects()) - objects) / reads, 2),
        "rss_mb_a_day_watching": round(per_k_mb * _WATCHING_READS_A_DAY / 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lifeboat-task-bench-") as tmp:
        os.environ["LIFEBOAT_HOME"] = tmp
        make_home(Path(tmp))
        from PySide6.QtWidgets import QApplication

        from lifeboat.core.manifest import utc_now
        from lifeboat.gui.workers import run_in_background, wait_for_tasks
        from lifeboat.service import Service

        app = QApplication([])
        service = Service()

        def in_tasks(n: int) -> None:
            answered = [0]

            def count(_status: object) -> None:
                answered[0] += 1

            for i in range(n):
                run_in_background(lambda: service.status(utc_now()), what="read", on_done=count)
                if i % _AT_ONCE == _AT_ONCE - 1:
                    while answered[0] < i + 1:
                        app.processEvents()
                        time.sleep(0.0002)
            while answered[0] < n:
                app.processEvents()
                time.sleep(0.0002)
            wait_for_tasks()
            for _ in range(20):
                app.processEvents()

        def directly(n: int) -> None:
            for _ in range(n):
                service.status(utc_now())

        report(
            "task_memory",
            {
                "code": str(Path(sys.modules["lifeboat"].__file__ or "").parent),
                "background_tasks": growth(in_tasks, args.reads),
                "direct_calls": growth(directly, args.reads),
            },
        )


if __name__ == "__main__":
    main()
