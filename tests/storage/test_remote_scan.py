"""The remote scan (catalog rebuild) counts a copy only if its object is still the one
its manifest describes: the size, and the ETag recorded when the upload was proven."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.manifest import Manifest
from lifeboat.core.stores import ObjectInfo
from lifeboat.remote.scan import object_differs, proven_by_etag, scan_remote
from lifeboat.remote.upload import REMOTE_OBJECT
from lifeboat.service import Service
from tests.helpers.databases import make_db
from tests.storage.test_remote import add_remote


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def manifest(**extra: object) -> Manifest:
    return Manifest(
        id="0123abcd",
        source="notes",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        artifact="notes-20260101T000000Z-0123abcd.sqlite.zst",
        size=100,
        sha256="0" * 64,
        db_size=100,
        page_size=4096,
        page_count=1,
        check_mode="quick",
        check_result="ok",
        sqlite_version="-",
        reason="manual",
        protected=False,
        source_path="-",
        journal_mode="wal",
        compression="zstd-3",
        lifeboat_version="-",
        duration_s=0.0,
        extra=dict(extra),
    )


def test_what_makes_an_object_differ_from_its_manifest():
    recorded = {REMOTE_OBJECT: {"size": 100, "etag": "a" * 32, "part_size": 0}}
    assert object_differs(manifest(**recorded), ObjectInfo("k", 100, "a" * 32)) is None
    assert "99 bytes, its manifest says 100" in object_differs(
        manifest(**recorded), ObjectInfo("k", 99, "a" * 32)
    )
    assert "replaced or changed" in object_differs(
        manifest(**recorded), ObjectInfo("k", 100, "b" * 32)
    )
    # Written before ETags were recorded: the size is all there is to compare.
    assert object_differs(manifest(), ObjectInfo("k", 100, "b" * 32)) is None
    sealed = {"encryption": {"scheme": "age", "size": 150, "sha256": "1" * 64}}
    assert object_differs(manifest(**sealed), ObjectInfo("k", 150)) is None
    assert "150" in object_differs(manifest(**sealed), ObjectInfo("k", 100))
    assert object_differs(manifest(encryption={"scheme": "age"}), ObjectInfo("k", 1))
    assert "SHA-256" in object_differs(
        manifest(encryption={"scheme": "age", "size": 1}), ObjectInfo("k", 1)
    )


def test_only_the_etag_a_proven_upload_recorded_proves_a_listed_object():
    recorded = {REMOTE_OBJECT: {"size": 100, "etag": "a" * 32, "part_size": 0}}
    assert proven_by_etag(manifest(**recorded), ObjectInfo("k", 100, "a" * 32))
    # A listing without ETags, a manifest from before they were recorded, another object:
    assert not proven_by_etag(manifest(**recorded), ObjectInfo("k", 100, ""))
    assert not proven_by_etag(manifest(), ObjectInfo("k", 100, "a" * 32))
    assert not proven_by_etag(manifest(**recorded), ObjectInfo("k", 100, "b" * 32))
    assert not proven_by_etag(manifest(**recorded), ObjectInfo("k", 99, "a" * 32))
    empty = {REMOTE_OBJECT: {"size": 100, "etag": "", "part_size": 0}}
    assert not proven_by_etag(manifest(**empty), ObjectInfo("k", 100, ""))


def test_the_remote_manifest_records_the_object_as_uploaded(
    service: Service, s3_server, bucket: str, tmp_path: Path
):
    add_remote(service, s3_server, bucket)
    service.add_source(make_db(tmp_path / "notes.db"), remote="offsite")
    record = service.backup("notes")
    service.upload("notes")
    copy = service.snapshots("notes")[0].copy_on("offsite")
    client = s3_server.client()
    remote = json.loads(client.get_object(Bucket=bucket, Key=copy.manifest_key)["Body"].read())
    head = client.head_object(Bucket=bucket, Key=copy.key)
    assert remote[REMOTE_OBJECT] == {
        "size": record.manifest.size,
        "part_size": 0,
        "etag": head["ETag"].strip('"'),
    }
    local = json.loads((record.folder / record.manifest.manifest_name).read_text())
    assert REMOTE_OBJECT not in local, "the local manifest stays as it was"


@pytest.mark.parametrize("change", ["shorter", "same size, other bytes"])
def test_a_changed_object_is_reported_not_adopted_and_kept(
    service: Service, s3_server, bucket: str, tmp_path: Path, change: str
):
    add_remote(service, s3_server, bucket)
    service.add_source(make_db(tmp_path / "notes.db"), remote="offsite")
    record = service.backup("notes")
    service.upload("notes")
    copy = service.snapshots("notes")[0].copy_on("offsite")
    client = s3_server.client()
    size = record.manifest.size
    body = os.urandom(size // 2 if change == "shorter" else size)
    client.put_object(Bucket=bucket, Key=copy.key, Body=body)
    scan = scan_remote(service.workspace.config().remote("offsite"), service.stores)
    assert scan.found == [] and len(scan.mismatched) == 1
    assert scan.mismatched[0].startswith(copy.key + " (")
    report = service.rebuild_catalog()
    assert report.remote_mismatched == scan.mismatched
    assert report.remote_snapshots == {"offsite": 0}
    assert service.snapshots("notes")[0].copy_on("offsite") is None, "not counted"
    assert client.get_object(Bucket=bucket, Key=copy.key)["Body"].read() == body, "never deleted"
    # The next upload puts the real bytes back and counts them.
    assert service.upload("notes").uploaded == [record.id]
    assert service.rebuild_catalog().remote_mismatched == []
