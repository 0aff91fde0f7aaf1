"""Which moment a drill restores, among every point a restore could give back.

A drill restores the newest snapshot and a random older one (drill.py); a source with
continuous protection is drilled at a random moment in time too, drawn uniformly from
every time a restore can give back:

- the spans of its continuous history kept here;
- the spans of the history only its remote holds (a new machine after `catalog
  rebuild`, or chains whose segments left this computer): those chains are fetched
  into this run's scratch, as a restore from the remote does (remote/history_fetch.py),
  so that the drill proves the remote's history restores;
- for a rollback-journal database (no commits to follow: a differential after each
  change, journal_watch.py), the time from its oldest restorable snapshot to its
  newest, resolved as a restore resolves a moment: the last snapshot at or before it.

The drill's result names the moment drawn and what it resolved to (PointChoice: the
commit and its chain's base, or the snapshot), and where it was read from.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.progress import CancelToken, Progress

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class DrillHistory:
    """The chains a drill may draw a point from, and where each was read from."""

    chains: dict[str, Sequence[SegmentFile]] = field(default_factory=dict)
    #: base id -> "local" or the remote's name
    where: dict[str, str] = field(default_factory=dict)


def remote_only_bases(workspace: Workspace, src: SourceConfig, local: set[str]) -> set[str]:
    """The bases of the chains `src`'s remote holds as proven copies and this computer
    does not (`local`: the bases of the chains kept here), whose base snapshot the
    catalog still has (a chain without it restores nothing: not fetched)."""
    if src.remote is None:
        return set()
    copies = workspace.catalog.segment_copies(src.name, src.remote)
    known = {r.id for r in workspace.catalog.snapshots(src.name)}
    return {c.base_id for c in copies if c.base_id in known} - local


@contextlib.contextmanager
def drill_history(
    workspace: Workspace,
    src: SourceConfig,
    local: Mapping[str, Sequence[SegmentFile]],
    progress: Progress,
    cancel: CancelToken,
) -> Iterator[DrillHistory]:
    """The chains kept here and, fetched into this run's scratch (removed when the block
    ends), the chains only the remote holds."""
    history = DrillHistory(dict(local), dict.fromkeys(local, "local"))
    remote_only = remote_only_bases(workspace, src, set(local))
    if not remote_only or src.remote is None:
        yield history
        return
    from lifeboat.remote.history_fetch import remote_chains

    with remote_chains(
        workspace, src, datetime.now(UTC), progress, cancel, bases=remote_only
    ) as fetched:
        for base_id, segments in fetched.items():
            if base_id in remote_only and segments:
                history.chains[base_id] = segments
                history.where[base_id] = src.remote
        yield history


def snapshot_moment(records: Sequence[SnapshotRecord], rng: random.Random) -> datetime | None:
    """A moment drawn uniformly from the oldest restorable snapshot's time to the
    newest's (a restore at it gives the last snapshot at or before it); None with fewer
    than two snapshots (the drill restores those anyway)."""
    times = sorted(r.manifest.created_at for r in records if r.manifest.kind != "raw")
    if len(times) < 2:
        return None
    first_us = (times[0] - _EPOCH) // timedelta(microseconds=1)
    last_us = (times[-1] - _EPOCH) // timedelta(microseconds=1)
    return _EPOCH + timedelta(microseconds=rng.randint(first_us, last_us))
