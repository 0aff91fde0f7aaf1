"""The service's points in time: restore or preview a source as it was at any moment
its continuous history covers, or else at its last snapshot before that moment (a
rollback-journal database's frequent differentials, a time before its history).

Part of the `Service` façade (facade.py mixes this in). A moment means the last commit
at or before it (jobs/restore_point.py); the restore goes through the one restore job
(safety snapshot, identity kept, sidecars moved aside), the preview through the one
row-level comparison (core/dbdiff).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.sqlite_file import probe_database
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import Cancelled, ConfigError, LifeboatError, NotFound
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.dbdiff_records import DatabaseDiff
    from lifeboat.core.history.row_changes import TableChange
    from lifeboat.core.results import CommitInfo, PointChoice, RestoreOutcome
    from lifeboat.jobs.restore_point import Chains


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

log = logging.getLogger(__name__)

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

    def commits_near(
        self, source: str, at: datetime, before: int = 20, after: int = 5
    ) -> list[CommitInfo]:
        """The commits of the source's continuous history around `at` (up to `before` at
        or before it, `after` after it), oldest first, from the segments' indexes only.
        Restoring one's time gives the database as it was right after it."""
        from lifeboat.service.commit_list import commits_near

        name = self.workspace.config().source(source).name
        if at.tzinfo is None:
            at = at.astimezone()  # a local time
        at_us = (at - _EPOCH) // _MICROSECOND
        return commits_near(self.workspace, name, at_us, before, after)

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
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.restore import RestoreJob

        with point_chains(self.workspace, source, at, progress, cancel or CancelToken()) as (
            choice,
            chains,
        ):
            job = RestoreJob(
                self.workspace,
                self.workspace.catalog.snapshot(choice.base_id),
                to=Path(to) if to is not None else None,
                overwrite=overwrite,
                point=None if choice.snapshot_only else (choice, chains),
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
        from lifeboat.service.preview import preview_restore

        if budget <= 0:
            raise ConfigError("the time budget must be more than 0 seconds", "use e.g. --budget 30")
        cancel = cancel or CancelToken()
        src = self.workspace.config().source(source)
        with point_chains(self.workspace, src.name, at, progress, cancel) as (choice, chains):
            if choice.snapshot_only:  # a snapshot is previewed as one
                record = self.workspace.catalog.snapshot(choice.base_id)
                snapshot = preview_restore(
                    self.workspace, record, None, budget=budget, progress=progress, cancel=cancel
                )
                return choice, snapshot
            return choice, self._preview_rebuilt(src.path, choice, chains, budget, progress, cancel)

    def _preview_rebuilt(
        self,
        live: Path,
        choice: PointChoice,
        chains: Chains,
        budget: float,
        progress: Progress,
        cancel: CancelToken,
    ) -> DatabaseDiff:
        from lifeboat.core.dbdiff import diff_databases
        from lifeboat.jobs.restore_point import rebuild_checked

        rebuilt = self.workspace.run.work_path(self.workspace.scratch(), "preview")
        try:
            rebuild_checked(
                self.workspace,
                choice,
                chains,
                rebuilt,
                check="none",
                progress=progress,
                cancel=cancel,
            )
            probe_database(live)
            return diff_databases(rebuilt, live, budget=budget, progress=progress, cancel=cancel)
        finally:
            rebuilt.unlink(missing_ok=True)

    def commit_changes(self, source: str, time_us: int) -> list[TableChange]:
        """Per table (tables with no change left out), how many rows the commit at
        exactly `time_us` (microseconds since the epoch, UTC) of the source's history
        added, changed and deleted; NotFound if no commit is at that time."""
        from lifeboat.service.row_changes import changes_at

        name = self.workspace.config().source(source).name
        found = changes_at(self.workspace, name, [time_us])
        if time_us not in found:
            raise NotFound(
                f"{name} has no commit at exactly that time",
                f"run `lifeboat timeline {name}` to see the times its history covers",
            )
        return found[time_us]

    def commits_changes(self, source: str, times_us: list[int]) -> dict[int, list[TableChange]]:
        """commit_changes for many commits at once (the base read once for them all), by
        time; a time with no commit is left out."""
        from lifeboat.service.row_changes import changes_at

        name = self.workspace.config().source(source).name
        return changes_at(self.workspace, name, times_us)


@contextlib.contextmanager
def point_chains(
    workspace: Workspace, source: str, at: datetime, progress: Progress, cancel: CancelToken
) -> Iterator[tuple[PointChoice, Chains]]:
    """The point `at` means, and the chains to rebuild it from: the history here, or,
    when that has no commit for `at` (a new machine, a history folder lost) and the
    source has a remote whose history does, that history (fetched into this run's
    scratch space for the time of the `with`); else the last snapshot before `at`."""

    from lifeboat.jobs.restore_point import choose_point
    from lifeboat.remote.history_fetch import remote_chains
    from lifeboat.service.history import chain_segments

    src = workspace.config().source(source)
    now = datetime.now(UTC)
    chains: Chains = chain_segments(workspace, src.name)
    here: LifeboatError | None = None
    try:
        choice: PointChoice | None = choose_point(workspace, src.name, chains, at, now)
    except LifeboatError as exc:
        choice, here = None, exc
    if (choice is None or choice.snapshot_only) and src.remote in workspace.config().remotes:
        with contextlib.ExitStack() as fetching:
            try:
                fetched = fetching.enter_context(
                    remote_chains(workspace, src, at, progress, cancel)
                )
                far = choose_point(workspace, src.name, fetched, at, now) if fetched else None
            except Cancelled:
                raise
            except LifeboatError as exc:
                log.warning("%s: the history on its remote was not used: %s", src.name, exc)
                far = None
            if far is not None and not far.snapshot_only:
                yield far, fetched
                return
    if choice is None:
        assert here is not None
        raise here
    yield choice, chains
