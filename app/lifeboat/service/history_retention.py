"""Retention of continuous history: thinning by the source's `continuous_keep`, after a
prune (service/pipeline.py calls this, the one place).

Each chain's settled segments (level 1 and above: the follower's level-0 files are its
own until it compacts them) are thinned by core/history/compaction.thin: older windows
keep one point each (the last state of the window), every later point still rebuilds.
A chain whose base snapshot was pruned cannot be restored any more; its segments go
too, but only when that is proven (the base is neither in the catalog nor in its
folder) and it is not the newest chain (a follower may still be writing it: it starts a
new chain at its next start).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lifeboat.core.config_model import SourceConfig
from lifeboat.core.history.compaction import remove_segment, thin
from lifeboat.core.history.sealing import identity_available
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.states import Trigger
from lifeboat.jobs.prune import PruneJob
from lifeboat.service.history import (
    HistoryChain,
    chains_of,
    history_folder,
    history_seal_to,
)

# Imported where used, not here: these pull in heavy libraries (zstandard, apsw, APScheduler,
# numpy) or the jobs, which commands such as `lifeboat status` must not load at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass
class ThinReport:
    commits_before: int = 0
    commits_after: int = 0
    chains_removed: list[str] = field(default_factory=list)


def thin_history(workspace: Workspace, source: str, now_us: int) -> ThinReport:
    config = workspace.config()
    src = config.source(source)
    report = ThinReport()
    chains = chains_of(workspace, source)
    if not chains:
        return report
    folder = history_folder(workspace, src)
    newest = max(chains, key=lambda c: c.last_us or 0)
    for chain in chains:
        if chain is not newest and _base_gone(workspace, src.name, chain):
            for segment in chain.segments:
                remove_segment(segment)
            report.chains_removed.append(chain.base_id)
            log.info(
                "%s: removed the history of base %s (the base was pruned)", source, chain.base_id
            )
            continue
        settled = []
        for segment in chain.segments:
            if segment.level == 0 or segment.last_time_us > _kept_whole_since(src, now_us):
                break  # the follower's own, or younger than any window that merges
            settled.append(segment)
        if not settled:
            continue
        seal_to = history_seal_to(config, src)
        if seal_to and not identity_available():
            log.info("%s: history kept sealed and no identity to open it now: not thinned", source)
            continue  # the capture host reports it; thinned at a later prune
        done = thin(
            folder, source, settled, src.history_policy, now_us, workspace.run, seal_to=seal_to
        )
        report.commits_before += done.commits_before
        report.commits_after += done.commits_after
    return report


def _kept_whole_since(src: SourceConfig, now_us: int) -> int:
    """Commits after this moment are all kept (the policy's first rule keeps every
    commit that young): segments holding only such commits are left as they are."""
    first = src.history_policy.rules[0]
    if first.every is not None:
        return now_us
    return now_us - int(first.within.total_seconds() * 1_000_000)


def _base_gone(workspace: Workspace, source: str, chain: HistoryChain) -> bool:
    if chain.base is not None:
        return False
    if any(r.id == chain.base_id for r in workspace.catalog.snapshots(source)):
        return False  # recorded (remote only, or its file missing): not proven gone
    folder = workspace.snapshot_folder(workspace.config(), workspace.config().source(source))
    # any file of it (its artifact with a lost manifest, a `.json.damaged`): not proven gone
    return not any(folder.glob(f"{source}-*-{chain.base_id}.*"))


def history_bases(workspace: Workspace, source: str, now_us: int) -> dict[str, str]:
    """The snapshots of `source` its continuous protection still needs (id -> why), for
    retention to keep: the live chain's base, those of chains holding points the
    source's `continuous_keep` still promises, and the snapshots taken for continuous
    protection (a rollback-journal database's) that policy keeps as moments."""
    from lifeboat.core.history.windows import (
        ChainSpan,
        bases_needed,
        kept_by_windows,
        restorable_since,
    )

    try:
        src = workspace.config().source(source)
    except LifeboatError:
        return {}
    chains = chains_of(workspace, source)
    spans = [ChainSpan(c.base_id, c.last_us) for c in chains]
    needed = bases_needed(spans, restorable_since(src.history_policy, now_us))
    moments = [
        (r.id, int(r.manifest.created_at.timestamp() * 1_000_000))
        for r in workspace.catalog.snapshots(source)
        if r.manifest.reason == Trigger.CONTINUOUS and r.local
    ]
    for snap_id in kept_by_windows(moments, src.history_policy, now_us):
        needed.setdefault(snap_id, f"a moment continuous_keep keeps ({src.history_policy.spec})")
    return needed


def prune_job(workspace: Workspace, source: str, *, dry_run: bool = False) -> PruneJob:
    """The prune of `source`, keeping what its continuous history needs."""
    return PruneJob(
        workspace,
        source,
        dry_run=dry_run,
        needed=lambda: history_bases(workspace, source, time.time_ns() // 1000),
    )
