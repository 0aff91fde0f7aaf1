"""MergeJob: bring rows of a past copy back into a source's live database, in one
transaction, after a protected safety snapshot that holds exactly what the merge changes.

The safety snapshot is the restore job's (jobs/restore.py). It must hold the database as
it was right before the merge, while the app keeps writing: it is taken, then the merge's
BEGIN IMMEDIATE is started and PRAGMA data_version tells whether any other connection
committed in between. If one did, the stale safety snapshot is dropped and it is taken
again; after three tries it is taken while the merge's transaction already holds the
write lock (the app's writers wait, as they do for the merge itself, up to their own busy
timeout), so it is exact in every case.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.fsutil import hold_lock
from lifeboat.core.rowmerge import connect_merge
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import JobKind
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.prune import delete_snapshot
from lifeboat.jobs.restore import RestoreJob, SafetyCopy

log = logging.getLogger(__name__)
_UNLOCKED_TRIES = 3


class MergeJob:
    kind = JobKind.RESTORE

    def __init__(
        self,
        workspace: Workspace,
        record: SnapshotRecord,
        past: Path,
        past_words: str,
        request: MergeRequest,
        confirmed: MergePlan | None,
    ) -> None:
        """`past` is the private scratch copy of the point or snapshot (`record` is it or
        its base); `confirmed` the plan the user agreed to (None: whatever it is now)."""
        self.workspace = workspace
        self.record = record
        self.source = record.source
        self.past = past
        self.past_words = past_words
        self.request = request
        self.confirmed = confirmed
        self._restore = RestoreJob(workspace, record)

    def prepare(self) -> None:
        self._restore.prepare()  # the source is configured and its file is a database

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[MergeOutcome]:
        started = time.monotonic()
        config = self.workspace.config()
        src = config.source(self.source)
        folder = self.workspace.source_folder(config, src)
        conn = connect_merge(src.path, self.past, config.general.busy_timeout)
        try:
            with hold_lock(
                folder / FOLDER_LOCK_NAME,
                f"a backup of {src.name} is running",
                "wait for it to finish, then bring the rows back",
            ):
                progress("safety snapshot", 0, 1)
                safety = self._safety_then_lock(conn, cancel)
                try:
                    progress("merge", 0, 1)
                    plan, inserted, updated = apply_merge(conn, self.request, self.confirmed)
                    cancel.check()
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    self._drop(safety)
                    raise
        finally:
            conn.close()
        log.info(
            "merged %s of %s from %s: %d inserted, %d updated",
            plan.live_table,
            src.name,
            self.past_words,
            inserted,
            updated,
        )
        outcome = MergeOutcome(
            plan,
            inserted,
            updated,
            safety.id if safety else None,
            self.past_words,
            time.monotonic() - started,
        )
        detail: dict[str, object] = {"merge": outcome.to_json()}
        return JobOutcome(snapshot_id=self.record.id, result=outcome, detail=detail)

    def _safety_then_lock(self, conn: sqlite3.Connection, cancel: CancelToken) -> SafetyCopy | None:
        """The safety snapshot of exactly the state the merge starts from, with the
        merge's write transaction begun."""
        for _ in range(_UNLOCKED_TRIES):
            (before,) = conn.execute("PRAGMA data_version").fetchone()
            safety = self._restore.take_safety_copy(no_progress, cancel)
            conn.execute("BEGIN IMMEDIATE")
            (after,) = conn.execute("PRAGMA data_version").fetchone()
            if after == before:
                return safety
            conn.execute("ROLLBACK")
            self._drop(safety)
        conn.execute("BEGIN IMMEDIATE")
        try:
            return self._restore.take_safety_copy(no_progress, cancel)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _drop(self, safety: SafetyCopy | None) -> None:
        """A safety snapshot taken for a merge that did not happen (never one that was
        there before and only reused)."""
        if safety is not None and safety.taken:
            delete_snapshot(self.workspace, self.workspace.catalog.snapshot(safety.id))
