"""Logging: a rotating log file for every process, stderr too for the daemon.

The log folder is Lifeboat's own (0700) and the log file is 0600, opened without
following a link. A log that cannot be written (a full disk, say) never breaks a command
and never prints Python's "--- Logging error ---" traceback: the process says once, in
one line, that its log lines are being dropped. A bad line (wrong arguments, text that
is not UTF-8) is written as well as it can be, never taken for such a failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from lifeboat.core.private import private_dir, tighten
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import LifeboatPaths

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
MAX_BYTES = 2_000_000
BACKUPS = 3
#: The handlers set_up installed, so a second call replaces them and no other.
_INSTALLED: list[logging.Handler] = []
_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
)


class AnyMessage(logging.Formatter):
    """A formatter that formats any record: a call with the wrong arguments, or an
    argument whose text cannot be made, gives its message and arguments as they were
    given (and why they did not format), not a lost line. The file's own encoding
    escapes what is not UTF-8 (a file name in another encoding)."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except Exception as exc:  # a bad line must not cost the log (nor the line)
            record.msg = f"{record.msg!r} with {_safe_repr(record.args)} (not formatted: {exc!r})"
            record.args = None
            return super().format(record)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a repr that raises: say which type it was
        return f"<{type(value).__name__}: {exc!r}>"


class LogFileOnFirstLine(logging.Handler):
    """The log file's handler (log_file.PrivateLogFile), made when the first line comes:
    a command that logs nothing (`status`) does not load logging.handlers (and socket),
    a few milliseconds of every start. The file itself was opened at the first line
    already (delay=True)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            from lifeboat.core.log_file import PrivateLogFile

            self._file = PrivateLogFile(self.path)
        self._file.handle(record)  # its own lock, formatter and quiet failures

    def handleError(self, record: logging.LogRecord) -> None:
        """The file's handler says why lines are dropped (once); nothing more here."""

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def configure_logging(paths: LifeboatPaths, *, stderr_level: int | None = None) -> Path:
    """Send log records to the log file (and stderr at `stderr_level`); return its path.
    Never raises: without a usable log folder the process runs without a log file."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    # APScheduler logs every run at INFO; our own lines say what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for old in list(root.handlers):
        if old in _INSTALLED:
            root.removeHandler(old)
            old.close()
    _INSTALLED.clear()
    handler: logging.Handler
    try:
        private_dir(paths.log_dir, "log folder")
        for name in [
            paths.log_file,
            *(Path(f"{paths.log_file}.{n}") for n in range(1, BACKUPS + 1)),
        ]:
            tighten(name)  # made by an older Lifeboat through the umask
        handler = LogFileOnFirstLine(paths.log_file)
    except (OSError, LifeboatError) as exc:
        _say(f"warning: no log file: {exc}")
        handler = logging.NullHandler()
    handler.setFormatter(AnyMessage(_FORMAT))
    _INSTALLED.append(handler)
    root.addHandler(handler)
    if stderr_level is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(stderr_level)
        console.setFormatter(AnyMessage("%(asctime)s %(levelname)s %(message)s"))
        _INSTALLED.append(console)
        root.addHandler(console)
    return paths.log_file


def _say(line: str) -> None:
    """One line on stderr, if there is one (a GUI process may have none)."""
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
