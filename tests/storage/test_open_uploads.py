"""Multipart uploads a run left open: aborted once that run has ended (at the next upload
or at scheduler start), never while it lives. On the memory store: that every store
lists and aborts open uploads is pinned by test_store_contract.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lifeboat.core.catalog import Catalog
from lifeboat.core.runs import start_run
from lifeboat.remote.open_uploads import (
    MARK_PREFIX,
    CatalogLedger,
    abort_ended_uploads,
    abort_ended_uploads_soon,
)
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from lifeboat.storage.memory_bucket import MemoryBucket
from tests.helpers.memory_remote import MEMORY_BUCKET, add_memory_remote


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()


@pytest.fixture
def service(home: Path, stores: MemoryStores) -> Service:
    return Service(stores=stores)


@pytest.fixture
def bucket(stores: MemoryStores) -> MemoryBucket:
    return stores.bucket(MEMORY_BUCKET)


def server_uploads(bucket: MemoryBucket) -> set[str]:
    return set(bucket.uploads())


def record_upload(service: Service, token: str, key: str, upload_id: str) -> None:
    """What the run `token` recorded when it opened an upload."""
    Catalog(service.workspace.paths.catalog_file, run_token=lambda: token).add_open_upload(
        "offsite", key, upload_id
    )


def test_only_uploads_of_ended_runs_are_aborted(service: Service, bucket: MemoryBucket):
    add_memory_remote(service)
    run_dir = service.workspace.paths.run_dir
    ended, alive = start_run(run_dir), start_run(run_dir)
    ended.close()  # as after kill -9: its lock is free
    mine = bucket.start_upload("lb/a", {})
    live = bucket.start_upload("lb/b", {})
    record_upload(service, ended.token, "lb/a", mine)
    record_upload(service, alive.token, "lb/b", live)
    record_upload(service, ended.token, "lb/c", "gone-already")  # NoSuchUpload: aborted
    remote = service.workspace.config().remote("offsite")
    store = service.stores.open(remote)
    try:
        assert abort_ended_uploads(service.workspace, remote, store) == ["lb/a", "lb/c"]
    finally:
        store.close()
    assert server_uploads(bucket) == {live}, "a live run's upload is untouched"
    assert [u.upload_id for u in service.workspace.catalog.open_uploads()] == [live]
    alive.close()


def test_the_scheduler_aborts_them_when_it_starts(service: Service, bucket: MemoryBucket):
    from lifeboat.scheduling.scheduler import Scheduler

    add_memory_remote(service)  # no source uses it: no upload job runs
    assert abort_ended_uploads_soon(service.workspace) is None, "nothing to do"
    ended = start_run(service.workspace.paths.run_dir)
    ended.close()
    upload_id = bucket.start_upload("lb/a", {})
    record_upload(service, ended.token, "lb/a", upload_id)
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while server_uploads(bucket) or service.workspace.catalog.open_uploads():
            assert time.monotonic() < deadline, "not aborted at start"
            time.sleep(0.1)
    finally:
        scheduler.shutdown()


def test_a_removed_remote_keeps_its_record(service: Service, stores: MemoryStores):
    ended = start_run(service.workspace.paths.run_dir)
    ended.close()
    record_upload(service, ended.token, "lb/a", "some-upload")
    assert abort_ended_uploads_soon(service.workspace) is None, "no such remote: no store"
    assert len(service.workspace.catalog.open_uploads()) == 1
    assert stores.opened == []


def test_a_run_killed_before_it_recorded_the_upload_id(service: Service, bucket: MemoryBucket):
    """Killed between opening an upload and recording its id: its mark makes the next
    run list the key's open uploads and abort the ones nobody recorded."""
    add_memory_remote(service)
    run_dir = service.workspace.paths.run_dir
    ended, alive = start_run(run_dir), start_run(run_dir)
    catalog = service.workspace.catalog
    # The ended run: a mark for lb/a, and the upload it opened but never recorded.
    killed = CatalogLedger(Catalog(catalog.path, run_token=lambda: ended.token), "offsite")
    killed.opening("lb/a")
    lost = bucket.start_upload("lb/a", {})
    # A live run's upload of the same key, recorded: never touched.
    mine = CatalogLedger(Catalog(catalog.path, run_token=lambda: alive.token), "offsite")
    live = bucket.start_upload("lb/a", {})
    mine.opened("lb/a", live, mine.opening("lb/a"))
    other_key = bucket.start_upload("lb/b", {})
    ended.close()
    remote = service.workspace.config().remote("offsite")
    store = service.stores.open(remote)
    try:
        # A live run is opening lb/a right now (its mark): wait, abort nothing.
        opening = mine.opening("lb/a")
        assert abort_ended_uploads(service.workspace, remote, store) == []
        assert server_uploads(bucket) == {lost, live, other_key}
        mine.closed(opening)
        assert abort_ended_uploads(service.workspace, remote, store) == ["lb/a"]
    finally:
        store.close()
    assert server_uploads(bucket) == {live, other_key}, "only the lost one"
    rows = catalog.open_uploads()
    assert [r.upload_id for r in rows] == [live]
    assert not any(r.upload_id.startswith(MARK_PREFIX) for r in rows)
    alive.close()
