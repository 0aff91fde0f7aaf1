"""The service's continuous history on remotes: sending it (remote/history_upload.py,
every `continuous_upload_every` by the capture host's uploader thread), its failures as
a problem, and how far the remote holds it.

Part of the `Service` façade (facade.py mixes this in). A failure is recorded once, as
an event the status reads (`history_upload_failed`), after the uploader failed
`FAILED_AFTER` times in a row; the next success ends it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from lifeboat.core.config_model import SourceConfig
from lifeboat.foundation.errors import LifeboatError, NotFound
from lifeboat.foundation.progress import CancelToken

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.chain import SegmentFile
    from lifeboat.remote.history_upload import HistorySent
    from lifeboat.service.history import HistoryChain

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace

log = logging.getLogger(__name__)

HISTORY_UPLOAD = "history-upload:"
HISTORY_UPLOAD_FAILED = "history-upload:failed"
HISTORY_UPLOAD_OK = "history-upload:ok"


class HistoryRemoteMethods:
    workspace: Workspace

    def history_uploads(self) -> dict[str, float]:
        """The continuously protected sources that have a remote, each with how often
        (seconds) its new history goes there."""
        config = self.workspace.config()
        return {
            s.name: s.upload_every_s
            for s in config.sources.values()
            if s.continuous and s.remote is not None and s.remote in config.remotes
        }

    def upload_history(
        self, name: str, cancel: CancelToken | None = None, *, patience: float = 600.0
    ) -> HistorySent:
        """Send what of `name`'s history its remote does not hold (with the chain's base
        snapshot if the remote lacks it), then delete there what was replaced. When
        another uploader is sending it, wait up to `patience` seconds for it to finish
        (0: send nothing now; the result says `claimed_elsewhere`)."""
        from lifeboat.remote.history_upload import upload_history
        from lifeboat.service.history import chains_of

        config = self.workspace.config()
        src = config.source(name)
        if src.remote is None:
            raise LifeboatError(
                f"source {name} has no remote",
                f"give it one: lifeboat source set {name} --remote NAME",
            )
        segments = _uploadable(self.workspace, chains_of(self.workspace, name))
        return upload_history(
            self.workspace,
            src,
            config.remote(src.remote),
            segments,
            cancel or CancelToken(),
            patience,
        )

    def history_upload_failed(self, name: str, why: str) -> None:
        """Sending `name`'s history keeps failing: recorded once until it works again."""
        catalog = self.workspace.catalog
        if catalog.last_event_kind(name, HISTORY_UPLOAD) == HISTORY_UPLOAD_FAILED:
            return
        log.warning("continuous history of %s is not reaching its remote: %s", name, why)
        catalog.add_event("warning", why, name, kind=HISTORY_UPLOAD_FAILED)

    def history_upload_works(self, name: str) -> None:
        catalog = self.workspace.catalog
        if catalog.last_event_kind(name, HISTORY_UPLOAD) != HISTORY_UPLOAD_FAILED:
            return
        log.info("continuous history of %s reaches its remote again", name)
        catalog.add_event(
            "info", "continuous history reaches its remote again", name, kind=HISTORY_UPLOAD_OK
        )


def _uploadable(workspace: Workspace, chains: list[HistoryChain]) -> list[SegmentFile]:
    """The segments of the chains whose base snapshot is in the catalog (a chain whose
    base is gone cannot be restored from anywhere), in commit order per chain."""
    found = []
    for chain in chains:
        try:
            workspace.catalog.snapshot(chain.base_id)
        except NotFound:
            continue
        found += chain.segments
    return found


def remote_history_state(
    workspace: Workspace, src: SourceConfig, chains: list[HistoryChain]
) -> dict[str, object]:
    """SourceStatus's fields: up to when its remote holds the newest chain, and why
    sending it keeps failing (None: it does not)."""
    if not src.continuous or src.remote is None:
        return {}  # (asked of every source at each status: no history code loaded for it)
    from lifeboat.core.history.chain import time_of
    from lifeboat.remote.history_plans import held_until_us

    copies = workspace.catalog.segment_copies(src.name, src.remote)
    segments = [s for chain in chains for s in chain.segments]
    until = held_until_us(segments, copies)
    event = workspace.catalog.last_event(src.name, HISTORY_UPLOAD)
    failed = event[1] if event is not None and event[0] == HISTORY_UPLOAD_FAILED else None
    return {
        "remote_history_until": time_of(until) if until is not None else None,
        "history_upload_failed": failed,
    }


def remote_history_line(
    remote: str | None, until: datetime | None, last_capture: datetime | None, now: datetime
) -> str | None:
    """'remote r2 holds its history up to 14:03:22 (all of it)' / '(3 min behind)'."""
    if remote is None or last_capture is None:
        return None
    if until is None:
        return f"remote {remote} holds none of its current history yet"
    local = until.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    behind = (last_capture - until).total_seconds()
    how = "all of it" if behind <= 0 else f"{_span(behind)} behind this computer"
    return f"remote {remote} holds its history up to {local} ({how})"


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{max(s, 1)} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"
