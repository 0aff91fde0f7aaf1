"""Starting the tray as a process: `lifeboat` without arguments and `lifeboat tray`.

Checks for a desktop, claims the single instance (or asks the running one to show
itself), reports a broken config in a box, wires SIGTERM/SIGINT to a clean stop and
turns stray exceptions into one-line messages (their tracebacks go to the log).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import NoReturn

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from lifeboat.core.logsetup import configure_logging
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import resolve_paths
from lifeboat.gui.app import TrayApp
from lifeboat.gui.binding_check import binding_problem
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import show_error
from lifeboat.gui.single_instance import SingleInstance
from lifeboat.service import Service

log = logging.getLogger(__name__)

_STARTED = time.perf_counter()


def main(*, minimized: bool = False) -> int:
    """Start the tray (or bring a running one forward); the process exit code."""
    paths = resolve_paths()
    log_file = configure_logging(paths)
    problem = missing_display()
    if problem:
        sys.stderr.write(
            f"error: {problem}\nhint: the command line works without one: "
            "see `lifeboat --help`; `lifeboat run` schedules headless\n"
        )
        return 2
    broken = binding_problem()  # before Qt runs long enough to crash
    if broken is not None:
        refuse_binding(*broken)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Lifeboat")
    app.setDesktopFileName("lifeboat")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(app_icon())
    instance = SingleInstance(paths)
    if not instance.claim():
        log.info("Lifeboat already runs; asked it to show its window")
        return 0
    try:
        try:
            service = Service()
            service.config()
            service.sweep()  # what killed runs left never outlives the next start
        except LifeboatError as exc:
            box = show_error(None, exc, title="Lifeboat cannot start")
            box.finished.connect(app.quit)
            app.exec()
            return exc.exit_code
        tray_app = TrayApp(service)
        tray_app.stopped.connect(app.quit)
        instance.show_requested.connect(tray_app.show_main_window)
        stop_on_signals(tray_app.shutdown)
        sys.excepthook = _report_unexpected
        tray_app.start(show_window=not minimized)
        QTimer.singleShot(
            0,
            lambda: log.info(
                "tray ready: %s shown %.3f s after start",
                "icon" if tray_app.tray else "window",
                time.perf_counter() - _STARTED,
            ),
        )
        code = app.exec()
        tray_app.shutdown()
        return code
    finally:
        instance.release()
        log.info("the tray has stopped (log: %s)", log_file)


def refuse_binding(message: str, hint: str) -> NoReturn:
    """Say (on stderr, in the log and in a box) that the Qt binding corrupts memory,
    then exit at once: Python's own shutdown would free what the binding broke and
    crash with a "Fatal Python error" after the message."""
    log.error("%s; %s", message, hint)
    sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    box = show_error(None, LifeboatError(message, hint), title="Lifeboat cannot start")
    box.finished.connect(app.quit)
    app.exec()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(2)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM/SIGINT (logout, Ctrl-C) stop the tray cleanly. Python handles signals only
    when it runs, so the signal's wake-up byte is watched by the event loop (no polling)."""
    if sys.platform == "win32":
        return
    import signal
    import socket

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _n, _f: None)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def woken() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)
        log.info("stopping on a signal")
        stop()

    notifier.activated.connect(woken)
    _keep_alive.extend([reader, writer, notifier])


_keep_alive: list[object] = []


def missing_display() -> str | None:
    """Why no GUI can start here (no display on Linux), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no desktop session here (neither DISPLAY nor WAYLAND_DISPLAY is set)"


def _report_unexpected(
    kind: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """A bug reached the event loop: log it with its traceback, show one line."""
    if issubclass(kind, KeyboardInterrupt):
        QApplication.quit()
        return
    log.error("unexpected error in the tray", exc_info=(kind, exc, tb))
    if isinstance(exc, LifeboatError):
        show_error(None, exc)
    else:
        show_error(None, exc, title="Lifeboat: unexpected error")
