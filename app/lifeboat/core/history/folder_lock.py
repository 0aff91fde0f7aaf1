"""Who may change a history folder: one writer at a time, and none once it was moved.

The follower, compaction and thinning publish and remove segments while holding the
folder's lock for a moment (`changing`); moving a source's snapshots holds it for the
whole copy (`held_for_move`), then leaves a marker, so that a follower still running on
the old folder (another process, until it reloads the settings) stops instead of
writing where nobody reads. A writer that finds the folder busy keeps what it has and
tries again at its next poll (the app's WAL keeps the commits meanwhile); a folder that
was removed is never made again by a writer (FileNotFoundError).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from lifeboat.core.fsutil import FileLock
from lifeboat.foundation.errors import AlreadyRunning, LifeboatError

HISTORY_LOCK = ".lifeboat-history.lock"
MOVED_MARKER = ".lifeboat-history.moved"


class HistoryBusy(AlreadyRunning):
    """Another process holds the history folder (a move): try again later."""


class HistoryMoved(LifeboatError):
    """The history folder was moved away: whoever writes here must start again from
    the settings, which name the new folder."""


@contextlib.contextmanager
def changing(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock while publishing or removing a segment (not waiting)."""
    lock = FileLock(Path(folder) / HISTORY_LOCK, make_folder=False)
    if not lock.try_acquire():
        raise HistoryBusy(f"the history in {folder} is being moved", "try again shortly")
    try:
        if os.path.lexists(Path(folder) / MOVED_MARKER):
            raise HistoryMoved(
                f"the history in {folder} was moved", "follow the source's new folder"
            )
        yield
    finally:
        lock.release()


def held_for_move(folder: Path, patience: float) -> FileLock | None:
    """The folder's lock for a move (waiting up to `patience` s for a writer), or None
    if a writer kept it that long."""
    lock = FileLock(Path(folder) / HISTORY_LOCK, make_folder=False)
    return lock if lock.acquire_within(patience) else None
