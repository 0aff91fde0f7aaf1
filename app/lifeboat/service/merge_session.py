"""A row merge's session: one past copy of a source, previewed and merged as often as
asked (the CLI's preview, confirmation and merge: service/merge.py's `merge_session`).

A past of only the rows that changed (core/rowmerge_changed_rows) is of the live file as
it was compared: a session that holds one plans from it once, right after it is written;
then it plans as `merge_preview` does and merges as `merge_restore` does (`again`), each
writing the past anew (the merge's beside its safety snapshot).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.sqlite_file import probe_database
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

# Imported here for the type checker only (service/merge.py says why).
if TYPE_CHECKING:
    from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest
    from lifeboat.foundation.events import EventSink


class MergeSession:
    """One past copy of a source, previewed and merged as often as asked."""

    def __init__(
        self,
        workspace: Workspace,
        publish: EventSink,
        record: SnapshotRecord,
        past: Path,
        words: str,
        only: str | None = None,
        again: PastAgain | None = None,
    ) -> None:
        self._workspace = workspace
        self._publish = publish
        self.record = record
        self.past = past
        self.words = words  # e.g. "notes at 14:02:11 (commit 812)"
        self.only = only  # the past holds this table's pages only (None: all of it)
        #: set when the past holds only the rows that differed from live then
        self._again = again
        self._planned = False

    def _check_fits(self, request: MergeRequest) -> None:
        from lifeboat.service.merge_past import table_only

        check_request(request)
        wanted = table_only(request)
        if self.only is not None and (wanted or "").lower() != self.only.lower():
            raise ConfigError(
                f"this merge session holds only table {self.only} as it was then",
                "open a session for the request",
            )
        if self._again is not None and request.where is not None:
            raise ConfigError(
                "this merge session holds only the rows that changed, not every row --where picks",
                "open a session for the request",
            )

    def plan(self, request: MergeRequest) -> MergePlan:
        """What merging would do now (reads only: nothing is written to the live file)."""
        from lifeboat.core.rowmerge import connect_merge, plan_merge

        self._check_fits(request)
        if self._again is not None and self._planned:  # the app may have committed since
            return self._again.plan(request)
        self._planned = True
        live = self._workspace.config().source(self.record.source)
        probe_database(live.path)
        busy = self._workspace.config().general.busy_timeout
        conn = connect_merge(live.path, self.past, busy, read_only=True)
        try:
            return plan_merge(conn, request)
        finally:
            conn.close()

    def apply(
        self,
        request: MergeRequest,
        confirmed: MergePlan | None = None,
        *,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> MergeOutcome:
        """Merge, after the safety snapshot, in one transaction; refused (nothing
        changed) if the plan is no longer `confirmed`'s."""
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.merge import MergeJob

        self._check_fits(request)
        if self._again is not None:
            return self._again.apply(request, confirmed, progress, cancel)
        job = MergeJob(self._workspace, self.record, self.past, self.words, request, confirmed)
        outcome = run_job(
            job,
            self._workspace.catalog,
            progress=progress,
            cancel=cancel,
            on_event=self._publish,
        )
        return outcome.result


class PastAgain(Protocol):
    """The session's source and past, its past written anew for each call: the
    service's merge_preview and merge_restore."""

    def plan(self, request: MergeRequest) -> MergePlan: ...

    def apply(
        self,
        request: MergeRequest,
        confirmed: MergePlan | None,
        progress: Progress,
        cancel: CancelToken | None,
    ) -> MergeOutcome: ...


def check_request(request: MergeRequest) -> None:
    if request.mode not in ("both", "deleted", "changed"):
        raise ConfigError(f"unknown merge mode {request.mode!r}", "use deleted, changed or both")
    if request.mode == "deleted" and request.prefer_past:
        raise ConfigError(
            "--prefer past puts back changed rows, --deleted-only leaves them",
            "use one of them",
        )
