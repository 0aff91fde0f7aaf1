"""MergeJob: bring rows of a past copy back into a source's live database, in one
transaction, after a protected safety snapshot that holds exactly what the merge changes.

The safety snapshot is the restore job's (jobs/restore.py: a differential against the
newest full snapshot when there is one). It must hold the database as it was right
before the merge, while the app keeps writing: it is taken (in a thread, while the past
copy is written and the plan is made), then the merge's BEGIN IMMEDIATE is started and
PRAGMA data_version tells whether any other connection committed in between. If one did,
the stale safety snapshot is dropped and it is taken again; after two tries it is taken
while the merge's transaction holds the write lock (a reader the lock lets through; the
app's writers wait meanwhile, up to their own busy timeout). It is exact in every case.
Each try is watched from its start (jobs/merge_watch.py): once another connection
commits, it can no longer be the state the merge starts from, so it is stopped then
instead of finished (an app that keeps writing costs the two tries a few milliseconds,
not two whole safety snapshots competing with the past for the CPU).

A past of the changed rows only (core/rowmerge_changed_rows) leaves out every row it
found in live unchanged: true of the live file as it was compared, not once another
connection committed since. So that past is relied on only when nothing was committed
between the moment before it was written and the merge's lock (the first try); a later
try first writes the whole past, which holds for any state of live, and plans again.

The plan is made before the lock and kept if, under the lock, what it relies on did not
change (core/rowmerge_recheck.py): the app's writers wait for the writes only.
Under the lock this process opens the live file only through SQLite (one library: a
descriptor of a second connection is not closed while the first holds locks) or the
kept descriptors of core/kept_descriptors.py: closing any other descriptor of it would
drop the process's POSIX locks on it (a rollback-journal database's RESERVED lock).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.fsutil import hold_lock
from lifeboat.core.live_pass import PassShare
from lifeboat.core.rawcopy import KeptChanging
from lifeboat.core.rowmerge import Sides, attach_past, connect_live
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_recheck import Planning, plan_before_lock, plan_still_holds
from lifeboat.core.rowmerge_records import PARTIAL_TABLE, MergeOutcome, MergePlan, MergeRequest
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import JobKind
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.merge_phases import PhaseTimes
from lifeboat.jobs.merge_watch import STOPPED_REASON, stopped_once_changed
from lifeboat.jobs.prune import delete_snapshot
from lifeboat.jobs.restore import RestoreJob, SafetyCopy
from lifeboat.jobs.unrecorded import record_unrecorded

log = logging.getLogger(__name__)
_UNLOCKED_TRIES = 2  # an app that wrote during both keeps writing: lock at once


class Changed(enum.Enum):
    """A safety snapshot stopped because another connection committed meanwhile."""

    CHANGED = "changed"


CHANGED = Changed.CHANGED


class PastWriter(Protocol):
    """Writes the past into the new file `past`; `whole`: all of it, never only the rows
    that differ from live (those are of the live file as it was when compared). True
    when it wrote only those rows."""

    def __call__(self, past: Path, whole: bool = False) -> bool: ...


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
        produce: PastWriter | None = None,
        share: PassShare | None = None,
    ) -> None:
        """`past` is the private scratch copy of the point or snapshot (`record` is it or
        its base), or where `produce` writes it while the safety snapshot is taken;
        `confirmed` the plan the user agreed to (None: whatever it is now); `share`: where
        the first safety snapshot hands its pass over the live file to `produce`
        (core/live_pass.py)."""
        self.produce = produce
        self.share = share
        self.workspace = workspace
        self.record = record
        self.source = record.source
        self.past = past
        self.past_words = past_words
        self.request = request
        self.confirmed = confirmed
        self._restore = RestoreJob(workspace, record)
        self.phases = PhaseTimes()
        self._live: tuple[Path, float] = (Path(), 0.0)  # set by run()

    def prepare(self) -> None:
        self._restore.prepare()  # the source is configured and its file is a database

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[MergeOutcome]:
        started = time.monotonic()
        config = self.workspace.config()
        src = config.source(self.source)
        folder = self.workspace.source_folder(config, src)
        conn = connect_live(src.path, config.general.busy_timeout)
        self._live = (src.path, config.general.busy_timeout)
        phases = self.phases = PhaseTimes()
        try:
            with hold_lock(
                folder / FOLDER_LOCK_NAME,
                f"a backup of {src.name} is running",
                "wait for it to finish, then bring the rows back",
            ):
                record_unrecorded(self.workspace, folder)  # the safety copy may reuse one
                progress("safety snapshot", 0, 1)
                safety, planned = self._safety_then_lock(conn, cancel)
                try:
                    progress("merge", 0, 1)
                    plan, inserted, updated = apply_merge(
                        conn, self.request, self.confirmed, planned
                    )
                    cancel.check()
                    conn.execute("COMMIT")
                    phases.unlocked()
                except BaseException:
                    conn.execute("ROLLBACK")
                    self._drop(safety)
                    raise
        finally:
            conn.close()
        log.info(
            "merged %s of %s from %s: %d inserted, %d updated (%s)",
            plan.live_table,
            src.name,
            self.past_words,
            inserted,
            updated,
            phases.words(),
        )
        outcome = MergeOutcome(
            plan,
            inserted,
            updated,
            safety.id if safety else None,
            self.past_words,
            time.monotonic() - started,
            phases.seconds(),
        )
        detail: dict[str, object] = {"merge": outcome.to_json()}
        return JobOutcome(snapshot_id=self.record.id, result=outcome, detail=detail)

    def _safety_then_lock(
        self, conn: sqlite3.Connection, cancel: CancelToken
    ) -> tuple[SafetyCopy | None, tuple[MergePlan, Sides] | None]:
        """The safety snapshot of exactly the state the merge starts from, with the
        merge's write transaction begun; and the plan if it still holds (None: plan it
        again under the lock). The plan is made before the lock, beside the safety
        snapshot; under the lock only what it relies on is checked again."""
        phases = self.phases
        (before,) = conn.execute("PRAGMA data_version").fetchone()
        safety, planning = self._safety_beside_plan(conn, cancel)
        for attempt in range(_UNLOCKED_TRIES):
            if attempt:
                planning = self._whole_past(conn, planning)
                (before,) = conn.execute("PRAGMA data_version").fetchone()
                with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-merge-safety") as pool:
                    stop = CancelToken()
                    taking = pool.submit(phases.run_timed, "safety", self._take_safety, stop)
                    with self._watched(taking, stop, cancel):
                        safety = self._unless_changed(taking, stop, cancel)
            if safety is CHANGED:
                continue  # another connection committed: try again
            conn.execute("BEGIN IMMEDIATE")
            phases.locked()
            (after,) = conn.execute("PRAGMA data_version").fetchone()
            if after == before:  # nobody wrote since the safety snapshot began
                return safety, self._still_planned(conn, planning)
            conn.execute("ROLLBACK")
            phases.unlocked()
            self._drop(safety)
        log.info(
            "%s kept changing: its safety snapshot is taken under the merge's lock", self.source
        )
        planning = self._whole_past(conn, planning)
        with phases.timed("safety"):
            self._restore.prove_bases()  # hashing the snapshots it stands on: not locked
        conn.execute("BEGIN IMMEDIATE")
        phases.locked()
        try:
            with phases.timed("safety"):
                safety = self._restore.take_safety_copy(no_progress, cancel, writes_held=True)
            try:
                return safety, self._still_planned(conn, planning)
            except BaseException:
                self._drop(safety)
                raise
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _whole_past(self, conn: sqlite3.Connection, planning: Planning) -> Planning:
        """Before a lock that follows another connection's commit: a past of the changed
        rows only is replaced by the whole past (see the module), and the plan made
        again on it; any other past is kept with its plan."""
        partial = conn.execute(
            "SELECT 1 FROM past.sqlite_master WHERE type = 'table' AND name = ?",
            (PARTIAL_TABLE,),
        ).fetchone()
        if partial is None:
            return planning
        assert self.produce is not None, "only a merge that writes its past reads changed rows"
        log.info("%s changed after its rows were compared: the whole past is read", self.source)
        conn.execute("DETACH DATABASE past")
        self.past.unlink()
        with self.phases.timed("past"):
            self.produce(self.past, whole=True)
        attach_past(conn, self.past)
        with self.phases.timed("plan"):
            return plan_before_lock(conn, replace(self.request, show_rows=0))

    def _still_planned(
        self, conn: sqlite3.Connection, planning: Planning
    ) -> tuple[MergePlan, Sides] | None:
        """Under the lock: the plan made before it, if nothing it relies on changed."""
        (now,) = conn.execute("PRAGMA data_version").fetchone()
        if now == planning.data_version:
            return planning.planned
        plan, sides = planning.planned
        with self.phases.timed("recheck"):
            changed = plan_still_holds(conn, sides, plan, self.request, planning.schema)
        if changed is None:
            return planning.planned
        log.info("%s: %s since the plan was made; it is made again", self.source, changed)
        return None

    def _safety_beside_plan(
        self, conn: sqlite3.Connection, cancel: CancelToken
    ) -> tuple[SafetyCopy | Changed | None, Planning]:
        """The first safety snapshot, taken in a thread while the past copy is written
        (if it is not there yet) and the plan is made on `conn`: they read different
        files, or the live one through SQLite only. CHANGED: stopped, another connection
        committed meanwhile."""
        phases = self.phases
        stop = CancelToken()
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-merge-safety") as pool:
            taking = pool.submit(phases.run_timed, "safety", self._take_safety, stop, self.share)
            with self._watched(taking, stop, cancel):
                try:
                    if self.produce is not None:
                        with phases.timed("past"):
                            self.produce(self.past)
                    attach_past(conn, self.past)
                    with phases.timed("plan"):
                        planning = plan_before_lock(conn, replace(self.request, show_rows=0))
                except BaseException:
                    stop.cancel()  # not needed: no need to finish it
                    with contextlib.suppress(BaseException):
                        self._drop(taking.result())
                    raise
                safety = self._unless_changed(taking, stop, cancel)
        return safety, planning

    def _unless_changed(
        self, taking: Future[SafetyCopy | None], stop: CancelToken, cancel: CancelToken
    ) -> SafetyCopy | Changed | None:
        """The safety snapshot `taking` gives, or CHANGED if it was stopped because
        another connection committed meanwhile (jobs/merge_watch.py: its work files went
        with it); the job's own cancel is raised. One that finished all the same is
        given: the caller finds the change under the lock and drops it. A raw safety
        copy (the database fails SQLite's check) that could not be made exact because
        the app kept committing is CHANGED too: under the lock it can be."""
        try:
            return taking.result()
        except KeptChanging:
            log.info("%s changed during every try of its raw safety copy", self.source)
            return CHANGED
        except Cancelled:
            cancel.check()
            if stop.reason != STOPPED_REASON:
                raise
            log.info("%s changed while its safety snapshot was taken: it was stopped", self.source)
            return CHANGED

    def _watched(
        self, taking: Future[SafetyCopy | None], stop: CancelToken, cancel: CancelToken
    ) -> contextlib.AbstractContextManager[None]:
        """The watch on `taking` (jobs/merge_watch.py) for a block."""
        live, busy_timeout = self._live
        return stopped_once_changed(live, busy_timeout, taking, stop, cancel)

    def _take_safety(
        self, cancel: CancelToken, share: PassShare | None = None
    ) -> SafetyCopy | None:
        """The safety snapshot (handing its pass over the live file to `share`), taken at
        once on the snapshots it stands on as if their bytes were proven intact, while
        they are proven (in a thread: "base_proof", a part of "safety" reported apart;
        its whole-file check is what the merge waits for, so it starts first). It is
        relied on only once the proof finds what was assumed; else (a damaged base) it
        is dropped and taken again on the proof."""
        try:
            return self._safety_on_assumed_bases(cancel, share)
        finally:
            if share is not None:
                share.abandon()  # whatever happened, nobody waits for it any longer

    def _safety_on_assumed_bases(
        self, cancel: CancelToken, share: PassShare | None
    ) -> SafetyCopy | None:
        restore = self._restore
        assumed = restore.assume_bases_intact()
        with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-merge-proof") as pool:
            proving = pool.submit(self.phases.run_timed, "base_proof", restore.proven_bases)
            safety = restore.take_safety_copy(no_progress, cancel, share=share)
            try:
                proven = proving.result()
            except BaseException:
                self._drop(safety)
                raise
        if proven == assumed:
            restore.keep_as_safety(safety)
            return safety
        log.warning(
            "%s: the snapshots its safety snapshot stood on are not as they were written; "
            "it is taken again without them",
            self.source,
        )
        self._drop(safety)
        restore.prove_bases()  # what the proof found intact is not hashed again
        return restore.take_safety_copy(no_progress, cancel)

    def _drop(self, safety: SafetyCopy | None) -> None:
        """A safety snapshot taken for a merge that did not happen (never one that was
        there before and only reused)."""
        if safety is not None and safety.taken:
            delete_snapshot(self.workspace, self.workspace.catalog.snapshot(safety.id))
