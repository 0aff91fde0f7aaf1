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


#: The tasks that run or wait.
_live: set[Task] = set()
#: Runners whose task has reported, each with its signals object, for the next tasks.
#: None is ever deleted: freeing a signals object (or a Python-made QRunnable) once its
#: task reported crashed the GUI process twice, in PySide, with the cause not found. A
#: runner is used again instead, its slots disconnected, so what a task held (its
#: function, the callbacks and all they captured) is freed, and the runners number no
#: more than the tasks that ever ran at once. The tray reads its status every 5 s while
#: it watches a daemon: kept for the process's life, those tasks grew it by about 20 KB
#: each, hundreds of MB a day.
_idle_runners: list[_Runner] = []


class TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(str, int, int)


class Task:
    """One function call in the pool. Create and start it with `run_in_background`."""

    def __init__(
        self, fn: Callable[..., Any], *, what: str, with_progress: bool, work: bool = False
    ) -> None:
        self.work = work
        self.fn: Callable[..., Any] | None = fn
        self.what = what
        self.with_progress = with_progress
        self.cancel = CancelToken()
        self.finished = threading.Event()
        self._throttle = ProgressThrottle()
        self._signals: TaskSignals | None = None  # its runner's, while it runs
        self._reporting = threading.Lock()

    def run(self, signals: TaskSignals) -> None:
        self._signals = signals
        # No local of the function: what it holds (often a widget) must be let go on the
        # GUI thread (by _release), never as this pool thread's frame ends.
        assert self.fn is not None, "a task runs once"
        try:
            result = self.fn(self._progress, self.cancel) if self.with_progress else self.fn()
        except LifeboatError as exc:
            log.info("%s: %s", self.what, exc.message)
            self._report("failed", exc)
        except BaseException as exc:
            log.exception("unexpected error while trying to %s", self.what)
            self._report("failed", exc)
        else:
            self._report("done", result)

    def _report(self, which: str, value: object) -> None:
        """Report once; no progress goes out after it (a thread the function left behind
        may still call it, and the runner then serves another task)."""
        with self._reporting:
            signals, self._signals = self._signals, None
            self.finished.set()
            if signals is not None:
                with contextlib.suppress(RuntimeError):  # the receivers are gone (quitting)
                    getattr(signals, which).emit(value)

    def _progress(self, phase: str, done: int, total: int) -> None:
        if not self._throttle.passes(phase, done, total):
            return
        with self._reporting:
            if self._signals is not None:
                with contextlib.suppress(RuntimeError):
                    self._signals.progress.emit(phase, done, total)


class _Runner(QRunnable):
    """Runs one task at a time in a pool, then waits in `_idle_runners` for the next."""

    def __init__(self) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = TaskSignals()
        self.task: Task | None = None
        self.listens_to_progress = False
        #: the callbacks connected for its task: held here until run() has returned, so
        #: Qt's letting go of them (deferred while an emit runs) is never their last
        #: reference, and they are freed on the GUI thread
        self.held: list[object] = []
        self.returned = threading.Event()  # run() has returned: it may be started again

    def run(self) -> None:
        task = self.task
        try:
            if task is not None:
                task.run(self.signals)
        finally:
            self.returned.set()

    def let_go(self) -> None:
        """Drop the last task's callbacks once run() has returned (GUI thread)."""
        if self.returned.is_set():
            self.held.clear()


def _runner_for(task: Task) -> _Runner:
    """The idle runner released last whose run() has returned, or a new one."""
    for i in range(len(_idle_runners) - 1, -1, -1):
        runner = _idle_runners[i]
        if runner.returned.is_set():
            del _idle_runners[i]
            break
    else:
        runner = _Runner()
    runner.let_go()
    runner.returned.clear()
    runner.task = task
    return runner


def _release(runner: _Runner) -> None:
    """The task reported and its answer was handed over (GUI thread): free what it held
    and keep the runner for another task."""
    signals = runner.signals
    signals.done.disconnect()
    signals.failed.disconnect()
    if runner.listens_to_progress:  # disconnecting a signal with no slot warns
        signals.progress.disconnect()
    if runner.task is not None:
        runner.task.fn = None
        _live.discard(runner.task)
    runner.task = None
    runner.let_go()  # else when it is used again, or by wait_for_tasks
    _idle_runners.append(runner)


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
    runner = _runner_for(task)
    signals = runner.signals
    queued = Qt.ConnectionType.QueuedConnection

    def guarded(callback: Callable[..., object]) -> Callable[..., object]:
        slot = callback
        if owner is not None:
            slot = lambda *args: callback(*args) if shiboken6.isValid(owner) else None  # noqa: E731
        runner.held.append(slot)
        return slot

    if on_done is not None:
        signals.done.connect(guarded(on_done), queued)
    if on_failed is not None:
        signals.failed.connect(guarded(on_failed), queued)
    runner.listens_to_progress = on_progress is not None
    if on_progress is not None:
        signals.progress.connect(guarded(on_progress), queued)
    # Last: queued after the answer's own slots, so they have run when it is released.
    release = lambda _=None: _release(runner)  # noqa: E731
    runner.held.append(release)
    signals.done.connect(release, queued)
    signals.failed.connect(release, queued)
    _live.add(task)
    (work_pool() if work else pool()).start(runner)
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
    done = pool().waitForDone(left) and done
    for runner in _idle_runners:  # what their last tasks' callbacks held goes now
        runner.let_go()
    return done


def running_tasks(*, work_only: bool = False) -> list[Task]:
    return [t for t in _live if not t.finished.is_set() and (t.work or not work_only)]
