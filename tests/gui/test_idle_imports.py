"""The tray idles with what it uses: once its scheduler has started (swept, tidied every
source's folder, caught up), a home with nothing due has loaded neither the snapshot
machinery nor continuous capture's follower. Each module costs the idle tray memory
for as long as it runs (issue 7's goal: 90 MB); both were loaded at every start, the
follower for a type annotation and the snapshot code for the folder tidy.

A real `lifeboat tray` process on the offscreen platform, which lists what it loaded
once the scheduler says it started, and 3 s later. Not a memory test (bench/gui_bench.py
measures it): this checks the design that keeps it down, and can fail (the last test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Loaded only by work: a backup, a restore, continuous capture, a check.
AT_WORK = (
    "lifeboat.jobs.backup",
    "lifeboat.core.snapshot",
    "lifeboat.core.dbcheck",
    "lifeboat.core.history.follower",
    "lifeboat.core.history.chain",
    "lifeboat.core.decompress",
    "boto3",
    "pyrage",
)

#: The tray, and a thread that writes what it loaded once the scheduler has started.
DRIVER = """
import json, logging, os, sys, threading, time
from lifeboat.cli.main import main

started = threading.Event()

class Started(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("scheduler started"):
            started.set()

logging.getLogger("lifeboat.scheduling.scheduler").addHandler(Started())

def loaded():
    watched = sys.argv[1].split(",")
    under = tuple(w + "." for w in watched)
    return {m for m in list(sys.modules) if m in watched or m.startswith(under)}

def report():
    if not started.wait(90):
        print(json.dumps({"started": False}), file=sys.stderr, flush=True)
        os._exit(3)
    first = loaded()
    # the window then refreshes its status and the first reads end: looked at again
    time.sleep(3)
    seen = sorted(first | loaded())
    print(json.dumps({"started": True, "loaded": seen}), file=sys.stderr, flush=True)
    os._exit(0)

threading.Thread(target=report, daemon=True).start()
main(["tray", "--minimized"])
"""


def _loaded_at_idle(home: Path, watched: tuple[str, ...]) -> list[str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, ",".join(watched)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-2000:]
    report = json.loads(lines[-1])
    assert report["started"], done.stderr[-2000:]
    return list(report["loaded"])


@pytest.fixture
def backed_up(home: Path, db: Path, cli) -> Path:
    """A source with a snapshot and no schedule: nothing is due, whatever the time."""
    assert cli("source", "add", str(db), "--name", "notes", "--schedule", "manual").code == 0
    assert cli("backup", "notes").code == 0
    return home


def test_the_idle_tray_has_loaded_no_snapshot_or_capture_machinery(backed_up: Path):
    assert _loaded_at_idle(backed_up, AT_WORK) == []


def test_the_report_sees_what_the_tray_did_load(backed_up: Path):
    # the check above can fail: the tray does load its scheduler and the catalog
    loaded = _loaded_at_idle(backed_up, ("apscheduler", "lifeboat.core.catalog"))
    assert "apscheduler" in loaded and "lifeboat.core.catalog" in loaded
