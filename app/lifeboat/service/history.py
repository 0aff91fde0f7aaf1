"""Where a source's continuous history lives, and its chains (the service's side).

B's smallest version of this module (issue 20, task 20b): task 20a owns it and the lead
merges both; only `history_folder` and `chains_of` are used from here.
The history of source S lives in `<S's snapshot folder>/history/` (the engine takes its
folder as a parameter and does not fix one).
"""

from __future__ import annotations

from pathlib import Path

from lifeboat.core.config_model import SourceConfig
from lifeboat.core.history.chain import SegmentFile, chain_of, list_segments
from lifeboat.core.workspace import Workspace

HISTORY_FOLDER = "history"


def history_folder(workspace: Workspace, src: SourceConfig) -> Path:
    """The folder of the source's segments (nothing is created here)."""
    return workspace.snapshot_folder(workspace.config(), src) / HISTORY_FOLDER


def chains_of(workspace: Workspace, source: str) -> dict[str, list[SegmentFile]]:
    """The source's chains as the engine lists them: base snapshot id -> the segments a
    reader uses (chain.effective), in commit order; oldest chain first."""
    src = workspace.config().source(source)
    listing = list_segments(history_folder(workspace, src), src.name)
    ids = {s.base_id for s in listing.segments}
    chains = {base_id: chain_of(listing.segments, base_id) for base_id in ids}
    return dict(sorted(chains.items(), key=lambda item: item[1][0].first_time_us))
