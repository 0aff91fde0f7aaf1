"""The service's row merge: bring back only what was lost, from a point in time or a
snapshot, into a source's live database while the app keeps running.

Part of the `Service` façade. The past is rebuilt once into a private scratch file of
this run (a point of the continuous history by jobs/restore_point.rebuild_checked; a
snapshot extracted and hash-checked like the restore preview's), attached read-only to a
connection on the live database; core/rowmerge plans, jobs/merge.MergeJob applies (safety
snapshot first, one transaction). `merge_session` keeps the scratch copy for a preview
then an apply (the CLI's confirmation); `merge_preview` and `merge_restore` do one each
(the GUI's "Bring these back…"). A past of only the rows that changed
(core/rowmerge_changed_rows) is of the live file as it was compared: a session that
holds one applies as `merge_restore` does, the past written again beside the safety
snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.service.merge_session import MergeSession, check_request

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.live_pass import PassShare
    from lifeboat.core.results import PointChoice
    from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest
    from lifeboat.foundation.events import Event
    from lifeboat.jobs.merge import PastWriter
    from lifeboat.jobs.restore_point import Chains


class MergeMethods:
    workspace: Workspace

    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    @contextlib.contextmanager
    def merge_session(
        self,
        source: str,
        *,
        at: datetime | None = None,
        snapshot: str | None = None,
        request: MergeRequest | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> Iterator[MergeSession]:
        """The source as it was `at` (or in snapshot `snapshot`) in a private scratch
        file, removed when the session ends; given `request`, only what it reads (then
        the session plans and applies that request only)."""
        from lifeboat.service.merge_past import table_only

        cancel = cancel or CancelToken()
        only = table_only(request) if request is not None else None
        # read only: the live file is not checkpointed for the changed rows
        rows_of = _rows_of(request, only, checkpoint=False) if request is not None else None
        with self._past(source, at, snapshot, only, progress, cancel, rows_of) as (
            record,
            words,
            produce,
        ):
            past = self.workspace.run.work_path(self.workspace.scratch(), "merge")
            try:
                again = _PastAgain(self, source, at, snapshot) if produce(past) else None
                yield MergeSession(self.workspace, self.publish, record, past, words, only, again)
            finally:
                past.unlink(missing_ok=True)

    def merge_preview(
        self,
        source: str,
        request: MergeRequest,
        *,
        at: datetime | None = None,
        snapshot: str | None = None,
        progress: Progress = no_progress,
    ) -> MergePlan:
        from lifeboat.service.merge_past import table_only

        only = table_only(request)
        # read only: the live file is not checkpointed for the changed rows
        rows_of = _rows_of(request, only, checkpoint=False)
        with self._past(source, at, snapshot, only, progress, CancelToken(), rows_of) as (
            record,
            words,
            produce,
        ):
            past = self.workspace.run.work_path(self.workspace.scratch(), "merge")
            try:
                produce(past)
                session = MergeSession(self.workspace, self.publish, record, past, words, only)
                return session.plan(request)
            finally:
                past.unlink(missing_ok=True)

    def merge_restore(
        self,
        source: str,
        request: MergeRequest,
        *,
        at: datetime | None = None,
        snapshot: str | None = None,
        confirmed: MergePlan | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> MergeOutcome:
        """Merge at once (no separate preview: the outcome holds the plan it followed);
        the safety snapshot is taken while the past is rebuilt."""
        from lifeboat.core.live_pass import PassShare
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.merge import MergeJob
        from lifeboat.service.merge_past import table_only

        check_request(request)
        cancel = cancel or CancelToken()
        only = table_only(request)
        # One merge at once: the live file is compared with the past right before it,
        # by the pass its safety snapshot makes over it meanwhile (core/live_pass.py).
        rows_of = _rows_of(request, only, checkpoint=True)
        share = PassShare() if rows_of is not None else None
        with self._past(source, at, snapshot, only, progress, cancel, rows_of, share) as (
            record,
            words,
            produce,
        ):
            past = self.workspace.run.work_path(self.workspace.scratch(), "merge")
            try:
                job = MergeJob(
                    self.workspace, record, past, words, request, confirmed, produce, share
                )
                outcome = run_job(
                    job,
                    self.workspace.catalog,
                    progress=progress,
                    cancel=cancel,
                    on_event=self.publish,
                )
            finally:
                past.unlink(missing_ok=True)
        return outcome.result

    @contextlib.contextmanager
    def _past(
        self,
        source: str,
        at: datetime | None,
        snapshot: str | None,
        only: str | None,
        progress: Progress,
        cancel: CancelToken,
        rows_of: tuple[MergeRequest, bool] | None = None,
        share: PassShare | None = None,
    ) -> Iterator[tuple[SnapshotRecord, str, PastWriter]]:
        """The snapshot (or the base of the point), the past in words, and what writes
        the past into a new scratch file (what is cheaper: see _extractor)."""
        from lifeboat.service.points import point_chains

        if (at is None) == (snapshot is None):
            raise ConfigError("say where the rows come from", "give --at TIME or --from ID")
        name = self.workspace.config().source(source).name
        if snapshot is not None:
            record = self._snapshot_of(name, snapshot)
            extract = _extractor(self.workspace, record, only, progress, cancel, rows_of, share)
            yield record, _words(record), extract
            return
        assert at is not None
        if at.tzinfo is None:
            at = at.astimezone()
        with point_chains(self.workspace, name, at, progress, cancel) as (choice, chains):
            record = self.workspace.catalog.snapshot(choice.base_id)
            if choice.snapshot_only:
                extract = _extractor(self.workspace, record, only, progress, cancel, rows_of, share)
                yield record, _words(record), extract
                return

            rebuild = _point_writer(self.workspace, record, choice, chains, only, progress, cancel)
            when = choice.commit_time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            yield record, f"{name} at {when} (commit {choice.commit_seq})", rebuild

    def _snapshot_of(self, source: str, ref: str) -> SnapshotRecord:
        record = self.workspace.catalog.snapshot(ref)
        if record.source != source:
            raise LifeboatError(
                f"snapshot {record.id} is of {record.source}, not of {source}",
                f"pick a snapshot of {source} (lifeboat snapshots {source})",
            )
        if record.manifest.kind == "raw":
            raise LifeboatError(
                f"snapshot {record.id} is a raw copy of a damaged database: its rows "
                "cannot be read",
                "pick another snapshot",
            )
        return record


@dataclass(frozen=True)
class _PastAgain:
    """A merge session's past written anew for each plan and merge (service/merge_session)."""

    service: MergeMethods
    source: str
    at: datetime | None
    snapshot: str | None

    def plan(self, request: MergeRequest) -> MergePlan:
        return self.service.merge_preview(self.source, request, at=self.at, snapshot=self.snapshot)

    def apply(
        self,
        request: MergeRequest,
        confirmed: MergePlan | None,
        progress: Progress,
        cancel: CancelToken | None,
    ) -> MergeOutcome:
        return self.service.merge_restore(
            self.source,
            request,
            at=self.at,
            snapshot=self.snapshot,
            confirmed=confirmed,
            progress=progress,
            cancel=cancel,
        )


def _point_writer(
    workspace: Workspace,
    record: SnapshotRecord,
    choice: PointChoice,
    chains: Chains,
    only: str | None,
    progress: Progress,
    cancel: CancelToken,
) -> PastWriter:
    """What writes the point `choice` (on snapshot `record`) into a new scratch file:
    always the whole past at that point, nothing compared with live; table `only`'s
    pages when they are proven enough."""
    from lifeboat.jobs.restore_point import rebuild_checked
    from lifeboat.remote.fetch import snapshot_files
    from lifeboat.service.merge_past import write_point_table

    def rebuild(past: Path, whole: bool = False) -> bool:
        # A base on the remote only is fetched once, by the whole rebuild: trying the
        # table's pages first could fetch it twice.
        if only is not None and record.local:
            with snapshot_files(workspace, record, progress, cancel) as files:
                segments = chains[choice.base_id]
                at_commit = (choice.commit_time, choice.commit_seq)
                if write_point_table(files, segments, *at_commit, only, past):
                    return False
        # Only rows are read from it, and its state digest is proven as it is rebuilt:
        # no integrity check of the scratch copy.
        rebuild_checked(
            workspace, choice, chains, past, check="none", progress=progress, cancel=cancel
        )
        return False

    return rebuild


def _rows_of(
    request: MergeRequest, only: str | None, *, checkpoint: bool
) -> tuple[MergeRequest, bool] | None:
    """The request whose past may be only the rows that changed, and whether the live
    file may be checkpointed for it (a merge about to write it), or None."""
    return (request, checkpoint) if only is not None and request.where is None else None


def _words(record: SnapshotRecord) -> str:
    when = record.manifest.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"snapshot {record.id} ({when})"


def _extractor(
    workspace: Workspace,
    record: SnapshotRecord,
    only: str | None,
    progress: Progress,
    cancel: CancelToken,
    rows_of: tuple[MergeRequest, bool] | None = None,
    share: PassShare | None = None,
) -> PastWriter:
    """What writes the snapshot into a new scratch file: given `rows_of` (a request, and
    whether it is a merge about to write the live database), only the rows of its table
    on the snapshot's pages that changed since (unless asked for the `whole` past: those
    rows are of the live file as it was compared), or table `only`'s pages, when that is
    proven enough and cheaper (service/merge_past.py), else all of it, hash-checked (a
    scratch copy read once and deleted: no fsync)."""
    from lifeboat.core.verify import extract_verified
    from lifeboat.remote.fetch import snapshot_files
    from lifeboat.service.merge_past import write_snapshot_changed_rows, write_snapshot_table

    live = workspace.config().source(record.source).path

    def extract(past: Path, whole: bool = False) -> bool:
        with snapshot_files(workspace, record, progress, cancel) as files:
            # a merge writes the live database next: its WAL may be checkpointed first
            if (
                rows_of is not None
                and not whole
                and write_snapshot_changed_rows(
                    files, rows_of[0], live, past, cancel, checkpoint=rows_of[1], share=share
                )
            ):
                return True
            if only is not None and write_snapshot_table(files, only, past):
                return False
            extract_verified(
                files.folder,
                record.manifest,
                past,
                check="none",
                progress=progress,
                cancel=cancel,
                base=files.base,
                durable=False,
            )
            return False

    return extract
