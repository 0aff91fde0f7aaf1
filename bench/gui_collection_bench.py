"""What a full garbage collection costs the tray's GUI thread (gui/garbage.py collects
there, by a timer, never on a pool thread).

Starts the tray (TrayApp, Qt's offscreen platform) over an existing LIFEBOAT_HOME (make a
large one with bench/catalog_gen.py), lets it settle, then times a full collection
(`gc.collect()`, generation 2: the longest the timer can hold the GUI thread) with the
main window open, and again with History open too; the best of three each, with the
number of objects the collector tracks.

Usage: PYTHONPATH=app python bench/gui_collection_bench.py HOME [--settle-s 6]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report


def full_collection() -> dict[str, float | int]:
    gc.collect()
    tracked = len(gc.get_objects())
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        gc.collect()
        seconds.append(time.perf_counter() - started)
    return {"tracked_objects": tracked, "full_collection_ms": round(min(seconds) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("home", type=Path)
    parser.add_argument("--settle-s", type=float, default=6.0)
    args = parser.parse_args()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["LIFEBOAT_HOME"] = str(args.home)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from lifeboat.gui.app import TrayApp
    from lifeboat.service import Service

    app = QApplication([sys.argv[0]])
    service = Service()
    tray = TrayApp(service, use_tray=False)
    tray.start(show_window=True)
    results: dict[str, object] = {"home": str(args.home), "snapshots": len(service.snapshots())}
    settle_ms = int(args.settle_s * 1000)

    def window_open() -> None:
        results["window"] = full_collection()
        tray.show_history()
        QTimer.singleShot(settle_ms, history_open)

    def history_open() -> None:
        results["window_and_history"] = full_collection()
        tray.shutdown()
        app.quit()

    QTimer.singleShot(settle_ms, window_open)
    app.exec()
    report("gui_collection", results)


if __name__ == "__main__":
    main()
