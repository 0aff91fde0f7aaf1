"""The job queue with real threads: exclusivity per source, priorities, cancel, shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lifeboat.core.catalog import Catalog
from lifeboat.foundation.errors import AlreadyRunning, Cancelled
from lifeboat.scheduling.queue import PRIORITY_LOW, PRIORITY_USER, JobQueue, QueuedJob
from tests.helpers.waiting import GENEROUS_S, wait_until


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


class CatalogJobs:
    """The queue's ledger over a bare catalog (the Service is the real one)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def record_queued_job(
        self, kind: str, source: str | None, trigger: str, attempt: int = 1
    ) -> int:
        return self.catalog.start_job(kind, source, trigger, attempt, status="queued")

    def record_job_end(self, job_id: int, status: str, error: str | None = None) -> None:
        self.catalog.finish_job(job_id, status, error=error)

    def cancel_requested(self, job_id: int) -> bool:
        return self.catalog.job(job_id).cancel_requested


class Recorder:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.order: list[str] = []
        self.active: dict[str, int] = {}
        self.overlap = False
        self.lock = threading.Lock()
        self.release = threading.Event()

    def work(self, name: str, hold: bool = False):
        def run(job: QueuedJob) -> str:
            self.catalog.mark_job_running(job.job_id)
            with self.lock:
                self.order.append(name)
                key = job.source or name
                self.active[key] = self.active.get(key, 0) + 1
                self.overlap |= self.active[key] > 1
            try:
                while hold and not self.release.wait(0.01):
                    job.cancel.check()
                time.sleep(0.02)
            finally:
                with self.lock:
                    self.active[job.source or name] -= 1
            self.catalog.finish_job(job.job_id, "ok")
            return name

        return run


def wait_for(condition) -> None:
    wait_until(condition, "the condition", interval=0.01)


def test_one_job_per_source_and_already_running(catalog: Catalog):
    rec = Recorder(catalog)
    done: list[str] = []
    queue = JobQueue(
        CatalogJobs(catalog), concurrency=2, on_finished=lambda j, r, e: done.append(r)
    )
    queue.start()
    queue.submit("backup", "a", "manual", rec.work("a1", hold=True))
    wait_for(lambda: rec.order == ["a1"])
    with pytest.raises(AlreadyRunning, match="already running"):
        queue.submit("backup", "a", "manual", rec.work("a2"))
    queue.submit("verify", "a", "manual", rec.work("a-verify"))
    queue.submit("backup", "b", "manual", rec.work("b1"))
    wait_for(lambda: "b1" in done)
    assert "a-verify" not in rec.order, "a second job of a busy source started"
    rec.release.set()
    wait_for(lambda: len(done) == 3)
    assert not rec.overlap
    assert {j.status for j in catalog.jobs()} == {"ok"}
    queue.shutdown()


def test_priorities_with_concurrency_one(catalog: Catalog):
    rec = Recorder(catalog)
    done: list[str] = []
    queue = JobQueue(
        CatalogJobs(catalog), concurrency=1, on_finished=lambda j, r, e: done.append(r)
    )
    queue.submit("drill", "x", "scheduled", rec.work("drill"), priority=PRIORITY_LOW)
    queue.submit("backup", "y", "scheduled", rec.work("scheduled"))
    queue.submit("backup", "z", "manual", rec.work("user"), priority=PRIORITY_USER)
    queue.start()
    wait_for(lambda: len(done) == 3)
    assert rec.order == ["user", "scheduled", "drill"]
    queue.shutdown()


def test_cancel_queued_and_running_and_through_the_catalog(catalog: Catalog):
    rec = Recorder(catalog)
    finished: list[tuple[str, BaseException | None]] = []
    queue = JobQueue(CatalogJobs(catalog), on_finished=lambda j, r, e: finished.append((j.kind, e)))
    queue.start()
    running = queue.submit("backup", "a", "manual", rec.work("a", hold=True))
    wait_for(lambda: rec.order == ["a"])
    waiting = queue.submit("backup", "b", "manual", rec.work("b"))
    other = queue.submit("verify", "c", "manual", rec.work("c"))
    assert queue.cancel(waiting.job_id)
    catalog.request_cancel(other.job_id)  # as `lifeboat cancel` does from another process
    assert queue.cancel(running.job_id)
    wait_for(lambda: len(finished) == 1)
    assert isinstance(finished[0][1], Cancelled)
    wait_for(lambda: catalog.job(other.job_id).status == "cancelled")
    assert catalog.job(waiting.job_id).status == "cancelled"
    assert rec.order == ["a"]
    queue.shutdown()


def test_shutdown_cancels_running_and_records_waiting(catalog: Catalog):
    rec = Recorder(catalog)
    queue = JobQueue(CatalogJobs(catalog))
    queue.start()
    first = queue.submit("backup", "a", "manual", rec.work("a", hold=True))
    second = queue.submit("backup", "b", "manual", rec.work("b"))
    wait_for(lambda: rec.order == ["a"])
    # Only a job that ignored its cancel would keep shutdown waiting this long.
    queue.shutdown(timeout=GENEROUS_S)
    assert rec.active == {"a": 0}, "the running job was cancelled and has ended"
    assert catalog.job(second.job_id).status == "cancelled"
    assert first.cancel.cancelled
    with pytest.raises(AlreadyRunning, match="shutting down"):
        queue.submit("backup", "c", "manual", rec.work("c"))


def test_a_job_whose_work_ended_is_not_already_running_while_its_end_is_handled(
    catalog: Catalog,
):
    """Once a job's end is recorded the tray shows it ("Backup failed, retry …"), while
    its end is still handled (its retry scheduled): a "Back up now" then was refused as
    "already running". It is queued, and runs once the source is free."""
    rec = Recorder(catalog)
    handling = threading.Event()
    go_on = threading.Event()
    done: list[str] = []

    def on_finished(job: QueuedJob, result: object, error: BaseException | None) -> None:
        if result == "first":
            handling.set()
            go_on.wait(GENEROUS_S)
        done.append(str(result))

    queue = JobQueue(CatalogJobs(catalog), concurrency=1, on_finished=on_finished)
    queue.start()
    try:
        queue.submit("backup", "notes", "manual", rec.work("first"))
        wait_until(handling.is_set, "the first job's end being handled")
        assert not queue.is_busy("backup", "notes")
        queue.submit("backup", "notes", "manual", rec.work("second"))  # not AlreadyRunning
        go_on.set()
        wait_for(lambda: done == ["first", "second"])
    finally:
        go_on.set()
        queue.shutdown()
