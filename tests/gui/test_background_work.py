"""Reads that keep the tray current never wait behind long work, and a tray that has quit
reads and tells nothing more. Real Qt thread pools and a real tray on the offscreen
platform."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtWidgets import QApplication

from lifeboat.foundation.states import Health
from lifeboat.gui import workers
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


class _Held:
    """Something a task's function and its callbacks hold (a weak reference finds it)."""


def test_a_task_that_reported_keeps_nothing_it_held(qtbot):
    """The tray reads its status every few seconds for as long as it runs: a task kept
    with its function and callbacks after it reported grew the process without end."""
    qtbot.waitUntil(lambda: not workers._live)
    runners_before = len(workers._idle_runners)  # earlier tests in this process made some
    held: list[weakref.ref[_Held]] = []
    answers: list[int] = []
    for i in range(200):
        thing = _Held()
        held.append(weakref.ref(thing))
        run_in_background(
            lambda _progress, _cancel, thing=thing, i=i: i,
            what="a read",
            on_done=lambda n, thing=thing: answers.append(n),
            on_progress=lambda *_, thing=thing: None,
        )
        del thing
        if i % 3 == 0:  # a few at once, as windows and the status ask
            qtbot.waitUntil(lambda i=i: len(answers) > i - 2)
    qtbot.waitUntil(lambda: len(answers) == 200)
    qtbot.waitUntil(lambda: not running_tasks() and not workers._live)
    workers.wait_for_tasks()
    gc.collect()
    assert sorted(answers) == list(range(200))
    alive = [ref for ref in held if ref() is not None]
    assert not alive, f"{len(alive)} of 200 tasks still hold what they were given"
    assert len(workers._idle_runners) <= runners_before + 8, "runners are used again"


def test_progress_after_a_task_reported_reaches_no_later_task(qtbot):
    """A thread the function left behind reports progress after the task answered; its
    runner meanwhile serves the next task, whose listener must not hear it."""
    late = threading.Event()
    sent = threading.Event()

    def leaves_a_thread(progress, _cancel):
        def later() -> None:
            late.wait(10)
            progress("the first task's phase", 1, 1)
            sent.set()

        threading.Thread(target=later, daemon=True).start()
        return "first"

    first: list[object] = []
    qtbot.waitUntil(lambda: not workers._live)
    task = run_in_background(
        leaves_a_thread, what="first", on_done=first.append, with_progress=True
    )
    qtbot.waitUntil(lambda: first == ["first"] and task not in workers._live)
    runner = workers._idle_runners[-1]  # the first task's: it was released last
    qtbot.waitUntil(runner.returned.is_set)
    heard: list[str] = []
    go_on = threading.Event()
    second: list[object] = []

    def waits(_progress, _cancel):
        go_on.wait(10)
        return "second"

    run_in_background(
        waits, what="second", on_done=second.append, on_progress=lambda p, *_: heard.append(p)
    )
    assert runner not in workers._idle_runners, "the second task took the first one's runner"
    late.set()
    assert sent.wait(10)
    go_on.set()
    qtbot.waitUntil(lambda: second == ["second"])
    QApplication.processEvents()
    assert heard == []
