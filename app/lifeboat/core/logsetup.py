"""Logging: a rotating log file for every process, stderr too for the daemon.

The log folder is Lifeboat's own (0700) and the log file is 0600, opened without
following a link. A log that cannot be written (a full disk, say) never breaks a command
and never prints Python's "--- Logging error ---" traceback: the process says once, in
one line, that its log lines are being dropped. A bad line (wrong arguments, text that
is not UTF-8) is written as well as it can be, never taken for such a failure.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import stat
import sys
from pathlib import Path

from lifeboat.core.private import FILE_MODE, private_dir, tighten
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


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose file (after each rotation too) is created 0600 whatever
    the umask, is never reached through a symbolic link, and whose failures are quiet."""

    def __init__(self, path: Path) -> None:
        self._warned = False
        # backslashreplace: a name that is not UTF-8 (a surrogate escape) is written
        # escaped, instead of failing the line
        super().__init__(
            path,
            maxBytes=MAX_BYTES,
            backupCount=BACKUPS,
            encoding="utf-8",
            delay=True,
            errors="backslashreplace",
        )
        self.setFormatter(AnyMessage(_FORMAT))

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, _FLAGS, FILE_MODE)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{self.baseFilename} is not a regular file")
            if sys.platform != "win32":
                os.set_blocking(fd, True)
                if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != FILE_MODE:
                    os.fchmod(fd, FILE_MODE)
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the line (and the stream, reopened for the next one) instead of printing a
        traceback; say once per process why lines are missing."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError) and self.stream is not None:
            # not the file failing (AnyMessage formats any line): keep the file, and say
            # in it that a line was lost and why
            with contextlib.suppress(Exception):
                self.stream.write(f"(a log line of {record.name} was lost: {exc!r})\n")
                self.stream.flush()
                return
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if not self._warned:
            self._warned = True
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            _say(
                f"warning: cannot write the log file {self.baseFilename} ({why}); "
                "log lines are dropped until that is fixed"
            )


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
        handler = PrivateLogFile(paths.log_file)
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
