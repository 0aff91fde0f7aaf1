"""Reads that keep the tray current never wait behind long work, and a tray that has quit
reads and tells nothing more. Real Qt thread pools and a real tray on the offscreen
platform."""

from __future__ import annotations

import threading

from lifeboat.foundation.states import Health
from lifeboat.gui.app import TrayApp
from lifeboat.gui.workers import pool, run_in_background, running_tasks
from lifeboat.service import Service
from tests.helpers.waiting import wait_until


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


def test_a_task_that_has_reported_is_freed_with_what_it_held(qtbot):
    """Each status read of the tray is a task: before, every task stayed for the
    process's life (its callbacks, connected in Qt, held it in a cycle Python's garbage
    collector cannot see), with what its function and callbacks held."""
    import gc
    import weakref

    class Held:
        """Something a task's function holds (the status reads of a tray hold much)."""

    reported: list[object] = []
    tasks, held = [], []
    for n in range(20):
        thing = Held()
        held.append(weakref.ref(thing))
        task = run_in_background(
            lambda thing=thing: thing, what=f"read {n}", on_done=reported.append
        )
        tasks.append(weakref.ref(task))
        del thing, task
    qtbot.waitUntil(lambda: len(reported) == 20, timeout=20_000)
    reported.clear()

    def freed() -> bool:
        gc.collect()
        return all(ref() is None for ref in [*tasks, *held])

    qtbot.waitUntil(freed, timeout=10_000)


def test_progress_reported_after_the_task_reported_goes_nowhere(qtbot):
    """A task's function may leave a thread of its own reporting progress after it
    returned. The task's signals object is deleted once the task has reported: such a
    report then emitted on it from that thread (a use after free, racing the deletion on
    the GUI thread), and one queued before reached the window after the task's answer."""
    import shiboken6

    heard: list[str] = []
    stop = threading.Event()
    late_reports = [0]
    reporters: list[threading.Thread] = []

    def leaves_a_reporter(progress, cancel):
        def keep_reporting() -> None:
            while not stop.is_set():
                late_reports[0] += 1
                progress("late", 1, 1)  # done == total: the throttle passes every one

        reporters.append(threading.Thread(target=keep_reporting, daemon=True))
        reporters[0].start()
        wait_until(lambda: late_reports[0] > 0, "the reporter's first report")
        return "answer"

    task = run_in_background(
        leaves_a_reporter,
        what="leave a reporter",
        on_done=lambda _: heard.append("done"),
        on_progress=lambda *_: heard.append("progress"),
    )
    try:
        # the task has reported (its answer is queued) and its reporter goes on: with no
        # event handled meanwhile, what it reports now comes after the answer
        assert pool().waitForDone(20_000)
        reported = late_reports[0]
        wait_until(lambda: late_reports[0] > reported + 100, "reports after the answer")
        qtbot.waitUntil(lambda: "done" in heard, timeout=20_000)
        qtbot.waitUntil(lambda: not shiboken6.isValid(task.signals), timeout=20_000)
        deleted = late_reports[0]
        qtbot.waitUntil(lambda: late_reports[0] > deleted + 1000, timeout=20_000)
    finally:
        stop.set()
        for reporter in reporters:
            reporter.join()
    assert "progress" not in heard[heard.index("done") :]
