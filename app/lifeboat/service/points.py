"""The service's points in time: restore or preview a source as it was at any moment
its continuous history covers.

Part of the `Service` façade (facade.py mixes this in). A moment means the last commit
at or before it (jobs/restore_point.py); the restore goes through the one restore job
(safety snapshot, identity kept, sidecars moved aside), the preview through the one
row-level comparison (core/dbdiff).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.dbdiff import diff_databases
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.results import PointChoice, RestoreOutcome
from lifeboat.core.sqlite_file import probe_database
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.jobs.base import run_job
from lifeboat.jobs.restore import RestoreJob
from lifeboat.jobs.restore_point import Chains, choose_point, rebuild_checked
from lifeboat.remote.history_fetch import remote_chains
from lifeboat.service.history import chain_segments

if TYPE_CHECKING:
    from lifeboat.foundation.events import Event


class PointMethods:
    workspace: Workspace

    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    def point(self, source: str, at: datetime) -> PointChoice:
        """The point `at` means (the last commit at or before it); a LifeboatError that
        names the nearest restorable times if there is none."""
        with point_chains(self.workspace, source, at, no_progress, CancelToken()) as found:
            return found[0]

    def restore_point(
        self,
        source: str,
        at: datetime,
        *,
        to: Path | str | None = None,
        overwrite: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> RestoreOutcome:
        """Restore the source as it was at `at`, to `to` or in place (safety snapshot
        first, exactly as a snapshot restore)."""
        with point_chains(self.workspace, source, at, progress, cancel or CancelToken()) as (
            choice,
            chains,
        ):
            job = RestoreJob(
                self.workspace,
                self.workspace.catalog.snapshot(choice.base_id),
                to=Path(to) if to is not None else None,
                overwrite=overwrite,
                point=(choice, chains),
            )
            outcome = run_job(
                job,
                self.workspace.catalog,
                progress=progress,
                cancel=cancel,
                on_event=self.publish,
            )
        return outcome.result

    def preview_point(
        self,
        source: str,
        at: datetime,
        *,
        budget: float = 30.0,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> tuple[PointChoice, DatabaseDiff]:
        """What restoring the source as it was at `at` would change in its live database.
        Reads only; the rebuilt point is a scratch file, removed afterwards."""
        if budget <= 0:
            raise ConfigError("the time budget must be more than 0 seconds", "use e.g. --budget 30")
        cancel = cancel or CancelToken()
        src = self.workspace.config().source(source)
        rebuilt = self.workspace.run.work_path(self.workspace.scratch(), "preview")
        with (
            point_chains(self.workspace, src.name, at, progress, cancel) as (choice, chains),
            contextlib.ExitStack() as cleanup,
        ):
            cleanup.callback(rebuilt.unlink, missing_ok=True)
            rebuild_checked(
                self.workspace,
                choice,
                chains,
                rebuilt,
                check="none",
                progress=progress,
                cancel=cancel,
            )
            probe_database(src.path)
            diff = diff_databases(
                rebuilt, src.path, budget=budget, progress=progress, cancel=cancel
            )
        return choice, diff


@contextlib.contextmanager
def point_chains(
    workspace: Workspace, source: str, at: datetime, progress: Progress, cancel: CancelToken
) -> Iterator[tuple[PointChoice, Chains]]:
    """The point `at` means, and the chains to rebuild it from: the history here, or,
    when that cannot give the point (a new machine, a history folder lost) and the
    source has a remote, the history its remote holds (fetched into this run's scratch
    space for the time of the `with`)."""
    src = workspace.config().source(source)
    now = datetime.now(UTC)
    chains: Chains = chain_segments(workspace, src.name)
    try:
        choice = choose_point(workspace, src.name, chains, at, now)
    except LifeboatError as exc:
        if src.remote is None or src.remote not in workspace.config().remotes:
            raise
        here = exc
    else:
        yield choice, chains
        return
    with remote_chains(workspace, src, at, progress, cancel) as fetched:
        if not fetched:
            raise here
        yield choose_point(workspace, src.name, fetched, at, now), fetched
