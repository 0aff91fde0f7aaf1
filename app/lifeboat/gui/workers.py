"""Run work off the GUI thread and hear back on it: `run_in_background`.

A task runs a plain function in the app's thread pool. Its result, its error and its
progress reach the GUI thread as queued signals; progress is passed on at most every
PROGRESS_INTERVAL seconds (foundation/progress.py). Errors a user can act on
(LifeboatError) are handed back as they are; anything else is logged here, with its
traceback, before it is handed back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken, ProgressThrottle

log = logging.getLogger(__name__)


#: The tasks that run or wait; a task's signals object must live until it has reported.
_live: set[Task] = set()


class TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(str, int, int)


class Task(QRunnable):
    """One function call in the pool. Create and start it with `run_in_background`."""

    def __init__(
        self, fn: Callable[..., Any], *, what: str, with_progress: bool, work: bool = False
    ) -> None:
        super().__init__()
        self.work = work
        self.setAutoDelete(False)
        self.fn = fn
        self.what = what
        self.with_progress = with_progress
        self.cancel = CancelToken()
        self.signals = TaskSignals()
        self.finished = threading.Event()
        self._throttle = ProgressThrottle()

    def run(self) -> None:
        try:
            result = self.fn(self._progress, self.cancel) if self.with_progress else self.fn()
        except LifeboatError as exc:
            log.info("%s: %s", self.what, exc.message)
            self._report(self.signals.failed, exc)
        except BaseException as exc:
            log.exception("unexpected error while trying to %s", self.what)
            self._report(self.signals.failed, exc)
        else:
            self._report(self.signals.done, result)

    def _report(self, signal: Any, value: object) -> None:
        self.finished.set()
        with contextlib.suppress(RuntimeError):  # the receivers are gone (quitting)
            signal.emit(value)

    def _progress(self, phase: str, done: int, total: int) -> None:
        if not self._throttle.passes(phase, done, total):
            return
        with contextlib.suppress(RuntimeError):
            self.signals.progress.emit(phase, done, total)


def run_in_background(
    fn: Callable[..., Any],
    *,
    what: str,
    on_done: Callable[[Any], object] | None = None,
    on_failed: Callable[[BaseException], object] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    with_progress: bool = False,
    owner: QObject | None = None,
    work: bool = False,
) -> Task:
    """Run `fn()` in the pool; or `fn(progress, cancel)` with `with_progress`.

    `what` names the work for the log ("restore notes"). The callbacks run in the GUI
    thread, and only while `owner` (the widget that asked) still exists. `work` marks
    what the user started and would lose by quitting (a restore, a verify, a backup), as
    opposed to reads. Cancel with `task.cancel.cancel()`.
    """
    task = Task(fn, what=what, with_progress=with_progress or on_progress is not None, work=work)
    queued = Qt.ConnectionType.QueuedConnection

    def forget(_: object = None) -> None:
        _live.discard(task)

    def guarded(callback: Callable[..., object]) -> Callable[..., object]:
        if owner is None:
            return callback
        return lambda *args: callback(*args) if shiboken6.isValid(owner) else None

    if on_done is not None:
        task.signals.done.connect(guarded(on_done), queued)
    if on_failed is not None:
        task.signals.failed.connect(guarded(on_failed), queued)
    if on_progress is not None:
        task.signals.progress.connect(guarded(on_progress), queued)
    task.signals.done.connect(forget, queued)
    task.signals.failed.connect(forget, queued)
    _live.add(task)
    pool().start(task)
    return task


def pool() -> QThreadPool:
    return QThreadPool.globalInstance()


def wait_for_tasks(timeout_ms: int = 30_000) -> bool:
    """Block until every task has finished (app shutdown, tests)."""
    return pool().waitForDone(timeout_ms)


def running_tasks(*, work_only: bool = False) -> list[Task]:
    return [t for t in _live if not t.finished.is_set() and (t.work or not work_only)]
