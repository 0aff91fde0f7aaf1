"""Where a source's continuous history is, and its chains as the engine lists them.

The history of source S lives in `<S's snapshot folder>/history/` (0700, Lifeboat's
own): its segments and their manifests are not snapshots, so the snapshot scan (which
reads one folder, not its subfolders) and `catalog rebuild` leave them alone, and a
segment manifest is never taken for a snapshot's. The bases are snapshots, in the
snapshot folder, recorded in the catalog like any other.

Segment files never change once published, so what their headers and indexes say is
remembered per process (by path, size and modification time): a status asked every few
seconds reads only the segments written since.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.encryption import MissingIdentity, stored_identities
from lifeboat.core.history.sealing import SegmentKeys, is_sealed, use_keys
from lifeboat.core.private import private_dir
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.chain import (
        Listing,
        SegmentFile,
    )
    from lifeboat.core.history.sealed_manifest import Mark

HISTORY_FOLDER = "history"


def history_seal_to(config: Config, src: SourceConfig) -> tuple[str, ...]:
    """The recipients `src`'s history is sealed to here (none: kept plain): those of its
    snapshots, when they are kept encrypted (core/history/sealing.py)."""
    return tuple(config.general.recipients) if src.encrypt_local else ()


def use_history_keys(workspace: Workspace) -> None:
    """Sealed segments are opened, in this process, with the identities `workspace`'s
    keyring holds, decrypted (when large) into its run's scratch folder."""
    use_keys(
        SegmentKeys(
            lambda: stored_identities(workspace.secrets),
            lambda: (workspace.scratch(), workspace.run),
        )
    )


def history_folder(workspace: Workspace, src: SourceConfig, *, make: bool = True) -> Path:
    """The folder of `src`'s continuous history (made, 0700, unless `make` is False)."""
    folder = workspace.snapshot_folder(workspace.config(), src) / HISTORY_FOLDER
    return private_dir(folder, "history folder") if make else folder


@dataclass(frozen=True)
class CommitMark:
    """A commit that is not one of the app's own: a gap's catch-up or a merged one."""

    seq: int
    time_us: int
    previous_us: int | None  # the commit before it in the chain (None: the base)
    gap: bool  # nothing was captured before it (Lifeboat was not running)
    merged: bool  # commits the follower could not read one by one, merged into it


@dataclass(frozen=True)
class SegmentSummary:
    segment: SegmentFile
    marks: tuple[CommitMark, ...]


@dataclass(frozen=True)
class HistoryChain:
    """One chain: its base (None: its snapshot is gone here) and the segments a reader
    uses, in commit order."""

    base_id: str
    base: BaseRef | None
    segments: list[SegmentFile]
    marks: list[CommitMark]

    @property
    def first_us(self) -> int | None:
        return self.segments[0].first_time_us if self.segments else None

    @property
    def last_us(self) -> int | None:
        return self.segments[-1].last_time_us if self.segments else None

    @property
    def commits(self) -> int:
        return sum(s.commits for s in self.segments)

    @property
    def gaps(self) -> list[CommitMark]:
        return [m for m in self.marks if m.gap]

    @property
    def merged(self) -> list[CommitMark]:
        return [m for m in self.marks if m.merged and not m.gap]


_cache: dict[Path, tuple[tuple[int, int], SegmentSummary]] = {}
_cache_lock = threading.Lock()


def _summary(path: Path) -> SegmentSummary:
    from lifeboat.core.history.chain import describe, described_sealed
    from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED
    from lifeboat.core.history.segment_read import SegmentReader

    info = os.stat(path)
    key = (info.st_size, info.st_mtime_ns)
    with _cache_lock:
        known = _cache.get(path)
    if known is not None and known[0] == key:
        return known[1]
    sealed = described_sealed(path) if is_sealed(path) else None
    if sealed is not None:  # its manifest says it all: never decrypted for a listing
        summary = SegmentSummary(sealed[0], tuple(_marks(sealed[1])))
        with _cache_lock:
            _cache[path] = (key, summary)
        return summary
    segment = describe(path)
    marks = []
    with SegmentReader(path) as reader:
        previous: int | None = None
        for entry in reader.commits:
            if entry.flags & (FLAG_GAP | FLAG_MERGED):
                marks.append(
                    CommitMark(
                        entry.seq,
                        entry.time_us,
                        previous,
                        bool(entry.flags & FLAG_GAP),
                        bool(entry.flags & FLAG_MERGED),
                    )
                )
            previous = entry.time_us
    summary = SegmentSummary(segment, tuple(marks))
    with _cache_lock:
        _cache[path] = (key, summary)
    return summary


def _marks(marks: tuple[Mark, ...]) -> list[CommitMark]:
    from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED

    return [
        CommitMark(seq, time_us, previous, bool(flags & FLAG_GAP), bool(flags & FLAG_MERGED))
        for seq, time_us, flags, previous in marks
    ]


def history_listing(folder: Path, source: str) -> tuple[Listing, dict[Path, SegmentSummary]]:
    """Every readable segment of `source` in `folder` (and those that fail to open), as
    chain.list_segments gives them, with each one's gaps and merged commits."""
    from lifeboat.core.history.chain import SEGMENT_NAME_RE, Listing
    from lifeboat.core.history.segment_read import SegmentDamaged

    listing = Listing([], [])
    summaries: dict[Path, SegmentSummary] = {}
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return listing, summaries
    for name in names:
        match = SEGMENT_NAME_RE.match(name)
        if match is None or match.group("source") != source:
            continue
        path = Path(folder) / name
        try:
            summary = _summary(path)
        except FileNotFoundError:
            continue  # replaced by compaction or thinning meanwhile
        except MissingIdentity:  # sealed, its manifest not (yet) beside it: listed
            continue  # once the key is at hand (it is not damaged)
        except (SegmentDamaged, OSError) as exc:
            listing.damaged.append((path, str(exc)))
            continue
        listing.segments.append(summary.segment)
        summaries[path] = summary
    with _cache_lock:
        for gone in [p for p in _cache if p.parent == Path(folder) and p not in summaries]:
            del _cache[gone]
    return listing, summaries


def open_base(workspace: Workspace, source: str, base_id: str) -> BaseRef | None:
    """The snapshot `base_id` of `source` kept here, as a chain's base (a differential
    with its full base); None if it is not here."""
    from lifeboat.core.history.bases import BaseRef

    # Only the base and its full: reading all of the source's records here cost every
    # status (each chain, every 15 s in the tray) in proportion to its snapshots.
    record = _kept_here(workspace, source, base_id)
    if record is None:
        return None
    parent = None
    if record.manifest.kind == "diff":
        full = _kept_here(workspace, source, record.manifest.base or "")
        if full is None:
            return None
        parent = BaseRef(full.manifest, full.folder)
    return BaseRef(record.manifest, record.folder, parent)


def _kept_here(workspace: Workspace, source: str, snap_id: str) -> SnapshotRecord | None:
    """`source`'s snapshot `snap_id` if it is kept here and good."""
    record = workspace.catalog.snapshots_by_id([snap_id]).get(snap_id)
    ok = record is not None and record.source == source and record.status == "ok"
    return record if ok else None


def chains_of(workspace: Workspace, source: str) -> list[HistoryChain]:
    """The chains of `source`'s history, oldest first (by their first commit)."""
    try:
        src = workspace.config().source(source)
    except LifeboatError:
        return []
    folder = history_folder(workspace, src, make=False)
    if not os.path.lexists(folder):
        return []  # no history (nor its code to load: every status asks, for each source)
    from lifeboat.core.history.chain import effective

    listing, summaries = history_listing(folder, source)
    by_base: dict[str, list[SegmentFile]] = {}
    for segment in listing.segments:
        by_base.setdefault(segment.base_id, []).append(segment)
    chains = []
    for base_id, segments in by_base.items():
        used = effective(segments)
        base = open_base(workspace, source, base_id)
        before = int(base.manifest.created_at.timestamp() * 1e6) if base else None
        marks = []
        for segment in used:
            for mark in summaries[segment.path].marks:
                if mark.previous_us is None:  # the segment's first commit
                    mark = replace(mark, previous_us=before)
                marks.append(mark)
            before = segment.last_time_us
        chains.append(HistoryChain(base_id, base, used, marks))
    return sorted(chains, key=lambda c: c.first_us or 0)


def chain_segments(workspace: Workspace, source: str) -> dict[str, list[SegmentFile]]:
    """The chains as a point restore reads them: base snapshot id -> the segments a reader
    uses, in commit order; oldest chain first."""
    return {chain.base_id: chain.segments for chain in chains_of(workspace, source)}
