"""The log file's handler: a RotatingFileHandler whose file is private and never reached
through a link (core/logsetup.py installs it, at the first log line)."""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import stat
import sys
from pathlib import Path

from lifeboat.core.logsetup import _FLAGS, _FORMAT, BACKUPS, MAX_BYTES, AnyMessage, _say
from lifeboat.core.private import FILE_MODE


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
