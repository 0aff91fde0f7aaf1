"""Logging: a rotating log file for every process, stderr too for the daemon."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from lifeboat.paths import LifeboatPaths

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def configure_logging(paths: LifeboatPaths, *, stderr_level: int | None = None) -> Path:
    """Send log records to the log file (and stderr at `stderr_level`); return its path."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    # APScheduler logs every run at INFO; our own lines say what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for handler in list(root.handlers):
        if getattr(handler, "_lifeboat", False):
            root.removeHandler(handler)
            handler.close()
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._lifeboat = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if stderr_level is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(stderr_level)
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        console._lifeboat = True  # type: ignore[attr-defined]
        root.addHandler(console)
    return paths.log_file
