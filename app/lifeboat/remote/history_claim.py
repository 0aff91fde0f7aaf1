"""One uploader at a time sends a source's history to a remote.

The plan of what to send is made from the catalog's proven copies, and a copy is
recorded only once it is proven there, which takes the whole upload. Two uploaders
that plan at once (`lifeboat upload` while the tray's or `lifeboat run`'s uploader
thread is sending) would both send the same commits, each under a name of its own: two
objects of one range on the remote, neither covering the other, kept for good (an older
Lifeboat did exactly that). So an uploader claims the pair (source, remote) first: an
advisory lock on a file of the run folder, held from the plan until its copies are
recorded. The OS drops it with the process (kill -9 included), so it never goes stale.
The thread that finds it claimed skips its round (the holder sends what is new); the
command waits for it, then plans from what the holder recorded and sends only the rest.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from lifeboat.core.fsutil import FileLock
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import AlreadyRunning

log = logging.getLogger(__name__)

CLAIMS = "history-upload"  # the folder of the claims, in the run folder


@contextlib.contextmanager
def history_claimed(
    workspace: Workspace, source: str, remote: str, patience: float
) -> Iterator[bool]:
    """Hold the claim on sending `source`'s history to `remote` while the block runs;
    yields False at once (nothing held) when another uploader holds it and `patience`
    is 0, else waits up to `patience` seconds for it (AlreadyRunning past that)."""
    # Both names are plain names (config checks them): usable as a file name as they are.
    lock = FileLock(workspace.paths.run_dir / CLAIMS / f"{source}@{remote}.lock")
    if not lock.try_acquire():
        if patience <= 0:
            log.info("the history of %s is being sent to %s by another uploader", source, remote)
            yield False
            return
        log.info(
            "waiting for another Lifeboat process sending the history of %s to %s",
            source,
            remote,
        )
        if not lock.acquire_within(patience, poll=0.2):
            raise AlreadyRunning(
                f"another Lifeboat process has been sending the history of {source} to "
                f"{remote} for a long while",
                "let it finish (the tray or `lifeboat run`), then try again",
            )
    try:
        yield True
    finally:
        lock.release()
