"""The tray idles with what it uses: once its scheduler has started (swept, tidied every
source's folder, caught up), a home with nothing due has loaded neither the snapshot
machinery nor continuous capture's follower. Each module costs the idle tray memory
for as long as it runs (issue 7's goal: 90 MB); both were loaded at every start, the
follower for a type annotation and the snapshot code for the folder tidy. Nor does it
keep any module's source lines (gui/module_sources.py).

A real `lifeboat tray` process on the offscreen platform, which lists what it loaded
once the scheduler says it started, and 3 s later. Not a memory test (bench/gui_bench.py
measures it): this checks the design that keeps it down, and can fail (it sees what the tray
does load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
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
import json, linecache, logging, os, sys, threading, time
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
    kept = sorted(name for name in linecache.cache if name.endswith(".py"))
    report = {"started": True, "loaded": seen, "sources_kept": kept}
    print(json.dumps(report), file=sys.stderr, flush=True)
    os._exit(0)

threading.Thread(target=report, daemon=True).start()
main(["tray", "--minimized"])
"""


def _idle_report(home: Path, watched: tuple[str, ...]) -> dict[str, list[str]]:
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
    return dict(report)


@pytest.fixture
def backed_up(home: Path, db: Path, cli) -> Path:
    """A source with a snapshot and no schedule: nothing is due, whatever the time."""
    assert cli("source", "add", str(db), "--name", "notes", "--schedule", "manual").code == 0
    assert cli("backup", "notes").code == 0
    return home


def test_the_idle_tray_loads_no_work_machinery_and_keeps_no_module_s_source(backed_up: Path):
    used = ("apscheduler", "lifeboat.core.catalog")
    report = _idle_report(backed_up, AT_WORK + used)
    loaded = set(report["loaded"])
    # the report can fail: the tray does load its scheduler and the catalog
    assert set(used) <= loaded
    assert sorted(m for m in loaded if not m.startswith(used)) == []
    # PySide6 reads the source of every module to see whether it uses PySide6, and
    # `linecache` kept it all: 291 files, about 10 MB of the idle tray's RSS
    # (gui/module_sources.py)
    assert report["sources_kept"] == []


def test_the_question_pyside_asks_is_answered_from_the_file(tmp_path: Path):
    """What PySide6 asks of each module, answered as its own way answers it, from the
    file's bytes; a module without a source file is left to its own way."""
    from types import ModuleType

    from lifeboat.gui.module_sources import _reading_bytes

    asked: list[str] = []

    def its_way(module: ModuleType) -> bool:
        asked.append(module.__name__)
        return False

    uses = _reading_bytes(its_way)
    for name, text, says in (
        ("window", "from PySide6.QtWidgets import QWidget\n", True),
        ("plain", "import sqlite3\n", False),
    ):
        module = ModuleType(name)
        module.__file__ = str(tmp_path / f"{name}.py")
        (tmp_path / f"{name}.py").write_text(text)
        assert uses(module) is says
    assert asked == []
    import shibokensupport.feature as feature  # loaded with PySide6

    upstream = feature._mod_uses_pyside
    if not getattr(upstream, "_lifeboat_reads_bytes", False):  # this process: its own
        ours = _reading_bytes(upstream)
        with warnings.catch_warnings():  # inspect on old-style importers' modules warns
            warnings.simplefilter("ignore", DeprecationWarning)
            for module in list(sys.modules.values()):
                assert ours(module) == upstream(module), module
    built_in = ModuleType("built_in")
    gone = ModuleType("gone")
    gone.__file__ = str(tmp_path / "gone.py")
    assert uses(built_in) is False and uses(gone) is False
    assert asked == ["built_in", "gone"]
