"""Run work off the GUI thread and hear back on it: `run_in_background`.

A task runs a plain function in the app's thread pool. Its result, its error and its
progress reach the GUI thread as queued signals; progress is passed on at most every
PROGRESS_INTERVAL seconds (foundation/progress.py).

Work the user started (a backup, a restore, a verify: `work=True`) runs in a pool of its
own, so that the reads that keep the tray current (the status, a window's list) never wait
behind it: Qt's global pool has one thread per core, and two long restores would otherwise
freeze the status and hold back every notice until they end. Errors a user can act on
(LifeboatError) are handed back as they are; anything else is logged here, with its
traceback, before it is handed back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
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
    (work_pool() if work else pool()).start(task)
    return task


#: Reads are short, but a slow disk or many windows can make several wait at once: a few
#: threads more than cores (they wait on I/O and on SQLite, which release the GIL).
READ_THREADS = 4
_work_pool: QThreadPool | None = None


def pool() -> QThreadPool:
    """The pool for reads (the status, the lists windows show)."""
    reads = QThreadPool.globalInstance()
    if reads.maxThreadCount() < READ_THREADS:
        reads.setMaxThreadCount(READ_THREADS)
    return reads


def work_pool() -> QThreadPool:
    """The pool for work the user started (see the module's doc)."""
    global _work_pool
    if _work_pool is None:
        _work_pool = QThreadPool()
    return _work_pool


def wait_for_tasks(timeout_ms: int = 30_000) -> bool:
    """Block until every task has finished (app shutdown, tests); False if some still run
    after `timeout_ms`."""
    deadline = time.monotonic() + timeout_ms / 1000
    done = work_pool().waitForDone(timeout_ms)
    left = max(0, int((deadline - time.monotonic()) * 1000))
    return pool().waitForDone(left) and done


def running_tasks(*, work_only: bool = False) -> list[Task]:
    return [t for t in _live if not t.finished.is_set() and (t.work or not work_only)]
