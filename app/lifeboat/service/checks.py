"""The service's "know before, prove after" operations: restore preview and drills.

Part of the `Service` façade (service.py mixes this in). A preview compares a snapshot
with the live database (or another snapshot) without touching either; a drill restores
snapshots to a temporary folder and checks them, recorded as a job of kind "drill".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lifeboat.foundation.errors import ConfigError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import Trigger

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.dbdiff_records import DatabaseDiff
    from lifeboat.core.results import DrillResult


if TYPE_CHECKING:
    from lifeboat.core.catalog_records import SnapshotRecord
    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.events import Event


class CheckMethods:
    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    workspace: Workspace

    if TYPE_CHECKING:

        def snapshot(self, ref: str) -> SnapshotRecord: ...  # Service's

    def preview(
        self,
        ref: str,
        *,
        against: str | None = None,
        budget: float = 30.0,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> DatabaseDiff:
        """What restoring `ref` would change in its source's live database (or, with
        `against`, compared with that other snapshot). Reads only."""
        from lifeboat.service.preview import preview_restore

        if budget <= 0:
            raise ConfigError("the time budget must be more than 0 seconds", "use e.g. --budget 30")
        record = self.snapshot(ref)
        other = self.snapshot(against) if against is not None else None
        return preview_restore(
            self.workspace,
            record,
            other,
            budget=budget,
            progress=progress,
            cancel=cancel or CancelToken(),
        )

    def drill(
        self,
        source: str,
        *,
        trigger: Trigger = Trigger.MANUAL,
        job_id: int | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> DrillResult:
        """Restore the newest and one random older snapshot (and a random point of its
        continuous history, if it has one) to a temporary folder and check them; the
        result is recorded in the job history."""
        from lifeboat.core.results import DrillResult
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.drill import DrillJob
        from lifeboat.service.history import chain_segments

        job = DrillJob(self.workspace, source, chains=chain_segments(self.workspace, source))
        outcome = run_job(
            job,
            self.workspace.catalog,
            trigger=trigger,
            job_id=job_id,
            progress=progress,
            cancel=cancel,
            on_event=self.publish,
        )
        checks = outcome.result
        last = self.last_drill(source)
        result = DrillResult(
            source,
            last.job_id if last else None,
            outcome.status == "ok",
            last.finished_at if last else None,
            checks,
            outcome.message or None,
        )
        if not result.passed:
            self._report_failed_drill(result)
        return result

    def _report_failed_drill(self, result: DrillResult) -> None:
        """A failed drill is a real problem: recorded as a warning event and posted to the
        webhook, whoever ran it (the CLI or the scheduler)."""
        from lifeboat.service.notify import Webhook

        message = f"{result.source}: {result.error}"
        self.workspace.catalog.add_event("warning", message, result.source, kind="drill:failed")
        webhook = Webhook(self.workspace.config().general.notify_url)
        webhook.send("drill-failed", result.source, message, {"drill": result.to_json()})
        webhook.flush()

    def last_drill(self, source: str) -> DrillResult | None:
        """The most recent finished drill of `source`, from the job history."""
        from lifeboat.core.results import DrillCheck, DrillResult

        for job in self.workspace.catalog.jobs(limit=200, source=source):
            if job.kind != "drill" or job.status not in ("ok", "failed"):
                continue
            detail = json.loads(job.detail) if job.detail else {}
            checks = [DrillCheck(**c) for c in detail.get("checks", [])]
            return DrillResult(
                source, job.id, job.status == "ok", job.finished_at, checks, job.error
            )
        return None
