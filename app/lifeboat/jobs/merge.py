"""MergeJob: bring rows of a past copy back into a source's live database, in one
transaction, after a protected safety snapshot that holds exactly what the merge changes.

The safety snapshot is the restore job's (jobs/restore.py). It must hold the database as
it was right before the merge, while the app keeps writing: it is taken, then the merge's
BEGIN IMMEDIATE is started and PRAGMA data_version tells whether any other connection
committed in between. If one did, the stale safety snapshot is dropped and it is taken
again; after two tries the merge's transaction takes the write lock first, a child
process copies the database (the SQLite backup API: a reader the lock lets through) into
a private scratch file, and the safety snapshot is taken of that copy (the app's writers
wait meanwhile, as they do for the merge itself, up to their own busy timeout). It is
exact in every case.
This process never opens the live file outside the merge's connection while the lock is
held: closing any other descriptor of it would drop the process's POSIX locks on it (a
rollback-journal database's RESERVED lock) and let the app write in the middle of the
merge; the child process's descriptors are its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.fsutil import hold_lock
from lifeboat.core.private import create_file
from lifeboat.core.rowmerge import Sides, attach_past, connect_live, plan_sides
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import JobKind
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.prune import delete_snapshot
from lifeboat.jobs.restore import RestoreJob, SafetyCopy

log = logging.getLogger(__name__)
_UNLOCKED_TRIES = 2  # an app that wrote during both keeps writing: lock at once
# Copies the live database (argv[1]) into the empty private file argv[2] in a process of
# its own: this process must not open the live file outside the merge's connection while
# that holds the lock (closing any other descriptor of it drops the process's POSIX locks).
_COPY_SCRIPT = (
    "import sqlite3, sys\n"
    "src = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=60)\n"
    "out = sqlite3.connect(sys.argv[2])\n"
    "src.backup(out)\n"
    "out.execute('pragma journal_mode=delete')\n"
    "out.close()\n"
    "src.close()\n"
)


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
        produce: Callable[[Path], None] | None = None,
    ) -> None:
        """`past` is the private scratch copy of the point or snapshot (`record` is it or
        its base), or where `produce` writes it while the safety snapshot is taken;
        `confirmed` the plan the user agreed to (None: whatever it is now)."""
        self.produce = produce
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
        conn = connect_live(src.path, config.general.busy_timeout)
        try:
            with hold_lock(
                folder / FOLDER_LOCK_NAME,
                f"a backup of {src.name} is running",
                "wait for it to finish, then bring the rows back",
            ):
                progress("safety snapshot", 0, 1)
                safety, planned = self._safety_then_lock(conn, cancel)
                try:
                    progress("merge", 0, 1)
                    plan, inserted, updated = apply_merge(
                        conn, self.request, self.confirmed, planned
                    )
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

    def _safety_then_lock(
        self, conn: sqlite3.Connection, cancel: CancelToken
    ) -> tuple[SafetyCopy | None, tuple[MergePlan, Sides] | None]:
        """The safety snapshot of exactly the state the merge starts from, with the
        merge's write transaction begun; and the plan, if it was made before the lock
        and nothing changed since (the app's writers then wait only for the writes)."""
        for attempt in range(_UNLOCKED_TRIES):
            (before,) = conn.execute("PRAGMA data_version").fetchone()
            planned = None
            if attempt == 0:
                safety = self._alongside_past(cancel)
                try:
                    attach_past(conn, self.past)
                    planned = plan_sides(conn, replace(self.request, show_rows=0))
                except BaseException:
                    self._drop(safety)
                    raise
            else:
                safety = self._restore.take_safety_copy(no_progress, cancel)
            conn.execute("BEGIN IMMEDIATE")
            (after,) = conn.execute("PRAGMA data_version").fetchone()
            if after == before:
                return safety, planned
            conn.execute("ROLLBACK")
            self._drop(safety)
        log.info(
            "%s kept changing: its safety snapshot is taken under the merge's lock", self.source
        )
        conn.execute("BEGIN IMMEDIATE")
        try:
            return self._locked_safety_and_plan(conn, cancel)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _locked_safety_and_plan(
        self, conn: sqlite3.Connection, cancel: CancelToken
    ) -> tuple[SafetyCopy | None, tuple[MergePlan, Sides]]:
        """Under the lock, the safety snapshot (of a copy a child process makes) and the
        plan at once: both only read, and the app's writers wait for the longer one."""
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-merge-safety") as pool:
            taking = pool.submit(self._safety_from_own_copy, cancel)
            try:
                planned = plan_sides(conn, replace(self.request, show_rows=0))
            except BaseException:
                with contextlib.suppress(BaseException):
                    self._drop(taking.result())
                raise
            return taking.result(), planned

    def _alongside_past(self, cancel: CancelToken) -> SafetyCopy | None:
        """The first safety snapshot, taken while the past copy is being written (if it
        is not there yet): the two read different files."""
        if self.produce is None:
            return self._restore.take_safety_copy(no_progress, cancel)
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-merge-past") as pool:
            making = pool.submit(self.produce, self.past)
            try:
                safety = self._restore.take_safety_copy(no_progress, cancel)
            except BaseException:
                cancel.cancel()
                with contextlib.suppress(BaseException):
                    making.result()
                raise
            try:
                making.result()
            except BaseException:
                self._drop(safety)
                raise
        return safety

    def _safety_from_own_copy(self, cancel: CancelToken) -> SafetyCopy | None:
        """While the merge's transaction holds the write lock: the database copied by a
        child process (SQLite's backup API, a reader the lock lets through), then the
        safety snapshot taken of that copy."""
        live = self.workspace.config().source(self.source).path
        copy = self.workspace.run.work_path(self.workspace.scratch(), "safety")
        try:
            os.close(create_file(copy))
            copied = subprocess.run(
                [sys.executable, "-c", _COPY_SCRIPT, str(live), str(copy)],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if copied.returncode != 0:
                raise OperationFailed(
                    f"the safety snapshot of {self.source} could not be taken: "
                    f"{copied.stderr.strip().splitlines()[-1:]}; nothing was changed",
                    "try again",
                )
            os.chmod(copy, stat.S_IMODE(os.stat(live).st_mode))  # the restore keeps it
            return self._restore.take_safety_copy(no_progress, cancel, copy=copy)
        finally:
            for path in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm"), Path(f"{copy}-journal")):
                path.unlink(missing_ok=True)

    def _drop(self, safety: SafetyCopy | None) -> None:
        """A safety snapshot taken for a merge that did not happen (never one that was
        there before and only reused)."""
        if safety is not None and safety.taken:
            delete_snapshot(self.workspace, self.workspace.catalog.snapshot(safety.id))
