"""`lifeboat` with no arguments starts the tray; a second launch brings the first one's
window forward and exits 0. Real processes on the offscreen platform."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lifeboat.core.scheduler_lock import SchedulerLock
from lifeboat.foundation.paths import resolve_paths
from lifeboat.gui.single_instance import SingleInstance


def tray_env(home: Path) -> dict[str, str]:
    return {**os.environ, "LIFEBOAT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}


def wait_for_log(home: Path, text: str, timeout: float = 20.0) -> str:
    log = home / "logs" / "lifeboat.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text() if log.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged; log:\n{content}")


def test_second_launch_asks_the_first_to_show_itself_and_exits_0(qtbot, home: Path):
    first = SingleInstance(resolve_paths())
    assert first.claim()
    try:
        with qtbot.waitSignal(first.show_requested, timeout=20_000):
            second = subprocess.Popen(
                [sys.executable, "-m", "lifeboat", "tray"],
                env=tray_env(home),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        assert second.wait(20) == 0
        assert "already runs" in (home / "logs" / "lifeboat.log").read_text()
    finally:
        first.release()


def test_lifeboat_without_arguments_runs_the_tray_once(home: Path):
    first = subprocess.Popen(
        [sys.executable, "-m", "lifeboat"],
        env=tray_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_log(home, "tray ready: window shown")  # offscreen: no tray, so the window
        assert SchedulerLock(resolve_paths()).holder() == first.pid
        second = subprocess.run(
            [sys.executable, "-m", "lifeboat"],
            env=tray_env(home),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 0
        wait_for_log(home, "asked it to show its window")
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
        assert SchedulerLock(resolve_paths()).holder() is None
        assert "Traceback" not in first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()


def test_without_a_desktop_it_says_so(home: Path):
    env = {
        k: v
        for k, v in tray_env(home).items()
        if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    result = subprocess.run(
        [sys.executable, "-m", "lifeboat"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no desktop session here")
    assert "lifeboat run" in result.stderr


def test_the_tray_does_not_load_boto3(home: Path, tmp_path: Path):
    """S3 clients cost ~40 MB: the tray must create one only for remote work."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QTimer\n"
        "app = QApplication([])\n"
        "from lifeboat.gui.app import TrayApp\n"
        "from lifeboat.service import Service\n"
        "tray = TrayApp(Service(), use_tray=True)\n"
        "tray.start(show_window=True)\n"
        "tray.show_settings(); tray.show_history(); tray.show_restore()\n"
        "def done():\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
        "    tray.shutdown(); app.quit()\n"
        "QTimer.singleShot(1500, done)\n"
        "app.exec()\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        env=tray_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
