"""Reads that keep the tray current never wait behind long work, and a tray that has quit
reads and tells nothing more. Real Qt thread pools and a real tray on the offscreen
platform."""

from __future__ import annotations

import threading

from lifeboat.foundation.states import Health
from lifeboat.gui.app import TrayApp
from lifeboat.gui.workers import run_in_background, running_tasks
from lifeboat.service import Service


def test_a_status_read_is_not_held_behind_long_work(qtbot, make_tray, two_sources):
    tray_app: TrayApp = make_tray()
    release = threading.Event()
    # More long pieces of work than the machine has cores (CI has 2): before, they took
    # every thread of the one pool and the status waited until they ended.
    for n in range(4):
        run_in_background(lambda: release.wait(60), what=f"a long restore {n}", work=True)
    try:
        qtbot.waitUntil(lambda: len(running_tasks(work_only=True)) == 4, timeout=10_000)
        read_before = tray_app.status.read_at
        tray_app.status.refresh()
        qtbot.waitUntil(lambda: tray_app.status.read_at != read_before, timeout=10_000)
        assert len(running_tasks(work_only=True)) == 4  # they still run
    finally:
        release.set()


def test_a_quit_tray_reads_nothing_and_tells_nothing(
    qtbot, make_tray, service: Service, two_sources
):
    tray_app: TrayApp = make_tray()
    shown_before = list(tray_app.notifier.shown)
    tray_app.shutdown()
    reads = [t for t in running_tasks() if t.what == "read the status"]
    tray_app.status.refresh()
    assert [t for t in running_tasks() if t.what == "read the status"] == reads
    # A change that would be a notice (the user was told of a problem that has ended)
    # reaches a quit tray's handler: nothing is shown.
    assert "notes" not in tray_app.status.problems
    tray_app.notifier.told = {"notes": Health.FAILED}
    tray_app.status.changed.emit()
    assert tray_app.notifier.shown == shown_before
