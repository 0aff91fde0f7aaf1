"""The part of a source's continuous history the row history reads from its remote.

A row's history walks every chain of the source's continuous history. Chains kept here
are read here. The remote's are fetched into this run's scratch for the walk (decrypted
there if sealed, removed afterwards): every chain when none is kept here (a new machine,
a history folder lost), else the chains whose proven copies the catalog records there
and that are not kept here (older chains this computer's retention let go while the
remote keeps them longer, or a folder that lost some). The walk says which points came
from the remote. A remote that cannot be read is logged, and the walk does without it
(with the snapshots), as a point restore does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken, no_progress

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace
    from lifeboat.jobs.restore_point import Chains

log = logging.getLogger(__name__)


@contextlib.contextmanager
def remote_history(
    workspace: Workspace, source: str, local: Chains, cancel: CancelToken
) -> Iterator[tuple[Chains, str | None]]:
    """The chains to read from the source's remote (none kept here: all of them), and
    that remote's name (None: nothing is read from it)."""
    from lifeboat.remote.history_fetch import remote_chains

    config = workspace.config()
    src = config.source(source)
    if src.remote is None or src.remote not in config.remotes:
        yield {}, None
        return
    bases = None
    if local:
        copies = workspace.catalog.segment_copies(source, src.remote)
        bases = {c.base_id for c in copies} - set(local)
        if not bases:
            yield {}, None
            return
    with contextlib.ExitStack() as fetched:
        try:
            far: Chains = fetched.enter_context(
                remote_chains(workspace, src, datetime.now(UTC), no_progress, cancel, bases=bases)
            )
        except Cancelled:
            raise
        except LifeboatError as exc:
            log.warning("%s: the history on its remote was not read: %s", source, exc)
            far = {}
        far = {base: segments for base, segments in far.items() if base not in local}
        yield far, src.remote if far else None
