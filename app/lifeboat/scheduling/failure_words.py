"""A failure of the capture or of the history uploader in words, for the status line
and the log ("... stopped: <why>")."""

from __future__ import annotations

from lifeboat.foundation.errors import LifeboatError


def why_of(exc: BaseException) -> str:
    """A failure in words, for the status line ("... stopped: <why>")."""
    if isinstance(exc, LifeboatError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__
