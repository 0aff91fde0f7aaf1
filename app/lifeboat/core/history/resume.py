"""Going on with an existing chain after a restart: its tip, proven by its digests.

The chain's state is rebuilt from the base's page hashes and every commit of its
segments in order; each segment must start where the previous one ended (its previous
digest and first commit seq) and end at the state its end digest names. A chain that
fails any of this is not continued (a new one is started; its files stay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.bases import BaseRef, base_state
from lifeboat.core.history.chain import SegmentFile, chain_of
from lifeboat.core.history.pagestate import PageState
from lifeboat.core.history.sealing import identity_available, is_sealed
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import LifeboatError


@dataclass
class ChainTip:
    """Where a chain stands: the state after its last commit."""

    base: BaseRef
    segments: list[SegmentFile]
    state: PageState
    digest: bytes
    last_seq: int
    next_segment: int


class ChainBroken(ValueError):
    """A chain's segments do not follow each other (a digest or seq mismatch)."""


def replay(base: BaseRef, segments: list[SegmentFile], state: PageState) -> tuple[bytes, int]:
    """Apply every commit of `segments` (in order) to `state`, checking continuity;
    return the end digest and the last commit seq."""
    digest = state.digest()
    last_seq = 0
    for segment in segments:
        if segment.previous_digest != digest or segment.first_seq <= last_seq:
            raise ChainBroken(f"{segment.path.name} does not continue its chain")
        with SegmentReader(segment.path) as reader:
            if reader.header.base_sha256 != base.manifest.sha256:
                raise ChainBroken(f"{segment.path.name} belongs to another base")
            for commit in reader.iter_commits():
                state.apply(commit.pages, commit.page_count)
        digest = state.digest()
        if digest != segment.end_digest:
            raise ChainBroken(f"{segment.path.name} does not end at the state it names")
        last_seq = segment.last_seq
    return digest, last_seq


def rebuild_tip(
    segments: list[SegmentFile],
    open_base: Callable[[str], BaseRef | None],
    run: Run,
    scratch: Path,
) -> ChainTip | None:
    """The tip of the newest chain whose base is here and whose segments hold together
    (None: there is none)."""
    newest: dict[str, int] = {}
    for segment in segments:
        newest[segment.base_id] = max(newest.get(segment.base_id, 0), segment.last_time_us)
    for base_id in sorted(newest, key=newest.__getitem__, reverse=True):
        base = open_base(base_id)
        if base is None:
            continue
        chain = chain_of(segments, base_id)
        try:
            state = base_state(base, run, scratch)
            digest, last_seq = replay(base, chain, state)
        except (ChainBroken, SegmentDamaged, LifeboatError, OSError):
            continue
        next_segment = max((s.segment_seq for s in chain), default=0) + 1
        return ChainTip(base, chain, state, digest, last_seq, next_segment)
    return None


def why_no_tip(segments: list[SegmentFile]) -> str:
    """Why a follower starts a new chain when `rebuild_tip` found none."""
    if not segments:
        return "no chain yet"
    if any(is_sealed(s.path) for s in segments) and not identity_available():
        return "its history is kept sealed and no identity to open it is available now"
    return "no usable chain"
