"""Events from the scheduler's threads reach the GUI thread through the one bridge."""

from __future__ import annotations

import threading

from lifeboat.foundation.events import JobFinished, JobProgress
from lifeboat.gui.bridge import EventBridge


def test_events_from_other_threads_arrive_in_the_gui_thread(qtbot):
    bridge = EventBridge()
    got: list[tuple[object, str]] = []
    bridge.subscribe(lambda event: got.append((event, threading.current_thread().name)))
    sender = threading.Thread(
        target=lambda: (
            [bridge.post(JobProgress(1, "notes", "copy", n, 100)) for n in range(101)]
            + [bridge.post(JobFinished(1, "backup", "notes", "ok"))]
        ),
        name="worker",
    )
    sender.start()
    sender.join()
    qtbot.waitUntil(lambda: any(isinstance(e, JobFinished) for e, _ in got), timeout=30_000)
    assert {name for _, name in got} == {threading.main_thread().name}
    progress = [e for e, _ in got if isinstance(e, JobProgress)]
    assert 1 <= len(progress) < 10, "progress is thinned out"
    assert progress[-1].done == 100, "the last step of a phase always passes"
