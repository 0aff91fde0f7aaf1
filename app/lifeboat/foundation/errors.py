"""The one error family a user can cause or meet.

Every message says what happened; the hint says what to do. The CLI prints both and
exits with `exit_code`; the GUI shows both in a message box. Anything that is not a
LifeboatError is a bug and is logged with its traceback.
"""

from __future__ import annotations


class LifeboatError(Exception):
    """A problem the user can understand and act on (bad input by default: exit 2)."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(LifeboatError):
    """The config file or a value given for it is invalid."""


class SourceError(LifeboatError):
    """A source database is missing, unreadable or not SQLite."""


class NotFound(LifeboatError):
    """An unknown source, snapshot or job was named."""


class OperationFailed(LifeboatError):
    """An operation ran and failed (exit 1): corruption found, disk full, source locked."""

    exit_code = 1


class CorruptSnapshot(OperationFailed):
    """A stored artifact does not match its manifest, or does not decompress or check:
    proven damage (say "damaged" only of this)."""


class MissingArtifact(OperationFailed):
    """A snapshot's file (or its base's) is not where it should be: missing, not damaged."""


class SourceBusy(OperationFailed):
    """The source stayed locked by another connection past the timeout."""


class AlreadyRunning(OperationFailed):
    """A job for the same source (or a scheduler for the same config) is already running."""


class Cancelled(OperationFailed):
    """The user cancelled the operation; nothing was kept from it."""


class RemoteError(OperationFailed):
    """The remote store could not be reached or refused the request."""
