"""A source's continuous protection in words and lists: its status line, its timeline.

Pure functions of the settings, the snapshots and the chains service/history.py lists
(no I/O here): the CLI's `lifeboat status` and `lifeboat timeline`, and the main window
and the tray (through `continuous_line`), all say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.manifest import iso_utc
from lifeboat.core.schedule_durations import duration_words
from lifeboat.service.history import HistoryChain

NOT_RUNNING = "Lifeboat was not running, or was paused"
MERGED_WHY = (
    "caught up from the live file (the app checkpointed or closed its WAL before every "
    "commit was read): its state is exact; commits just before it may be merged into it"
)


def time_of(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC)


@dataclass(frozen=True)
class ContinuousState:
    """What the status says of a source's continuous protection."""

    continuous: bool
    last_capture: datetime | None = None  # the newest commit in its history
    gaps: int = 0  # in the newest chain: times Lifeboat was not running
    merged: int = 0  # in the newest chain: catch-ups that merged commits
    stopped: str | None = None  # why the capture keeps failing (None: it does not)
    #: a rollback-journal database: captured by differentials at most this often (s);
    #: None: commit by commit from its WAL (or nothing captured yet)
    every_s: float | None = None


def continuous_state(
    src: SourceConfig,
    chains: list[HistoryChain],
    stopped: str | None,
    snapshots: Sequence[SnapshotRecord] = (),
) -> ContinuousState:
    """`snapshots`: the source's, newest first; the continuous ones that are no chain's
    base are a rollback-journal database's differentials (scheduling/journal_watch.py)."""
    newest = max(chains, key=lambda c: c.last_us or 0) if chains else None
    bases = {c.base_id for c in chains}
    journal = next(
        (r for r in snapshots if r.manifest.reason == "continuous" and r.id not in bases), None
    )
    newest_us = newest.last_us if newest is not None and newest.last_us is not None else None
    if journal is not None and (
        newest_us is None or journal.manifest.created_at > time_of(newest_us)
    ):
        return ContinuousState(
            src.continuous,
            journal.manifest.created_at,
            stopped=stopped if src.continuous else None,
            every_s=src.every_seconds,
        )
    if newest is None or newest.last_us is None:
        return ContinuousState(src.continuous, stopped=stopped if src.continuous else None)
    return ContinuousState(
        src.continuous,
        time_of(newest.last_us),
        len(newest.gaps),
        len(newest.merged),
        stopped if src.continuous else None,
    )


def ago_text(seconds: float) -> str:
    """'2 s ago', '5 min ago', '3 h ago', '2 days ago'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h ago"
    days = s // 86400
    return f"{days} day{'' if days == 1 else 's'} ago"


def continuous_line(
    state: ContinuousState, now: datetime, *, lifeboat_running: bool = True, paused: bool = False
) -> str | None:
    """The one line the status, the main window and the tray show (None: continuous
    protection is off and there is no history to speak of)."""
    last = state.last_capture
    captured = f"last change captured {ago_text((now - last).total_seconds())}" if last else ""
    if not state.continuous:
        return (
            f"continuous protection off ({captured.replace('last', 'the last')})" if last else None
        )
    if state.stopped:
        return f"continuous capture stopped: {state.stopped}"
    tail = f"; {captured}" if captured else ""
    if not lifeboat_running:
        return f"continuous protection paused: Lifeboat is not running{tail}"
    if paused:
        return f"continuous protection paused with the backups{tail}"
    if last is None:
        return "protected continuously, starting (nothing captured yet)"
    if state.every_s is not None:
        return f"protected every {every_words(state.every_s)}, {captured}"
    return f"protected continuously, {captured}"


def every_words(seconds: float) -> str:
    """'minute', '30 seconds', '5 minutes' (after "every")."""
    words = duration_words(timedelta(seconds=seconds))
    return words[2:] if words.startswith("1 ") else words


# -- the timeline -------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # snapshot | commits | gap | merged
    start: datetime
    end: datetime | None = None  # commits and gaps: where they end
    snapshot: str | None = None  # snapshot: its id; commits: their chain's base
    reason: str | None = None  # snapshot: why it was taken; gap, merged: why
    commits: int = 0  # commits: how many can be restored one by one

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end) if self.end else None,
            "snapshot": self.snapshot,
            "reason": self.reason,
            "commits": self.commits,
        }


@dataclass(frozen=True)
class Timeline:
    source: str
    continuous: bool
    keep: str
    entries: list[TimelineEntry] = field(default_factory=list)
    #: Its remote, and up to when that holds the newest chain (None: none of it).
    remote: str | None = None
    remote_until: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "continuous": self.continuous,
            "continuous_keep": self.keep,
            "entries": [e.to_json() for e in self.entries],
            "remote": self.remote,
            "remote_history_until": iso_utc(self.remote_until) if self.remote_until else None,
        }


def timeline_of(
    src: SourceConfig, snapshots: list[SnapshotRecord], chains: list[HistoryChain]
) -> Timeline:
    """Snapshots, the spans of commits between gaps, the gaps and the merged catch-ups,
    in time order."""
    bases = {c.base_id for c in chains}
    entries = [
        TimelineEntry("snapshot", r.manifest.created_at, snapshot=r.id, reason=_why(r, bases))
        for r in snapshots
    ]
    for chain in chains:
        entries += _chain_entries(chain)
    entries.sort(key=lambda e: (e.start, _ORDER[e.kind]))
    return Timeline(src.name, src.continuous, src.continuous_keep, entries)


def _why(record: SnapshotRecord, bases: set[str]) -> str:
    """Why a snapshot was taken; a continuous one that is no chain's base is a change of a
    rollback-journal database, restorable as a point of its own."""
    if record.manifest.reason == "continuous" and record.id not in bases:
        return "continuous: a change captured"
    return record.manifest.reason


_ORDER = {"snapshot": 0, "gap": 1, "commits": 2, "merged": 3}


def _chain_entries(chain: HistoryChain) -> list[TimelineEntry]:
    if not chain.segments or chain.first_us is None or chain.last_us is None:
        return []
    entries = []
    start_us, start_seq = chain.first_us, chain.segments[0].first_seq
    for gap in chain.gaps:
        if gap.previous_us is not None and gap.previous_us >= start_us:
            entries.append(_span(chain, start_us, gap.previous_us, gap.seq - start_seq))
        entries.append(
            TimelineEntry(
                "gap",
                time_of(gap.previous_us if gap.previous_us is not None else gap.time_us),
                time_of(gap.time_us),
                chain.base_id,
                NOT_RUNNING,
            )
        )
        start_us, start_seq = gap.time_us, gap.seq
    last_seq = chain.segments[-1].last_seq
    entries.append(_span(chain, start_us, chain.last_us, last_seq - start_seq + 1))
    entries += [
        TimelineEntry("merged", time_of(m.time_us), snapshot=chain.base_id, reason=MERGED_WHY)
        for m in chain.merged
    ]
    return entries


def _span(chain: HistoryChain, start_us: int, end_us: int, commits: int) -> TimelineEntry:
    return TimelineEntry(
        "commits", time_of(start_us), time_of(end_us), snapshot=chain.base_id, commits=commits
    )
