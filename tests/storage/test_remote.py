"""Remote copies against a real S3 server process: upload, restore, prune, rebuild, faults."""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import pytest

from lifeboat.foundation.errors import LifeboatError, RemoteError
from lifeboat.service import Service
from tests.conftest import cli_process, set_source
from tests.helpers.databases import change_db, db_content, make_db
from tests.helpers.workfiles import files_under


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def add_remote(
    service: Service, s3_server, bucket: str, endpoint: str | None = None, **extra: object
) -> None:
    # One folder level: moto's signature check fails a '/' in a list request's query.
    service.add_remote(
        "offsite",
        provider="minio",
        bucket=bucket,
        endpoint=endpoint or s3_server.endpoint,
        prefix="lb",
        access_key_id=s3_server.access_key_id,
        secret=s3_server.secret_access_key,
        **extra,
    )


def objects(s3_server, bucket: str) -> dict[str, int]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["Size"] for o in listed}


def test_upload_restore_from_remote_and_prune(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path
):
    db = make_db(tmp_path / "notes.db", rows=300)
    add_remote(service, s3_server, bucket)
    service.add_source(db, remote="offsite", keep="last=1", remote_keep="last=2")
    set_source(home, "notes", incremental=False)  # whole snapshots: simple retention here
    assert service.test_remote("offsite").bucket == bucket
    first = service.backup("notes", upload=False)
    outcome = service.upload("notes")
    assert outcome.uploaded == [first.id]
    keys = objects(s3_server, bucket)
    artifact_key = f"lb/notes/{first.manifest.artifact}"
    assert keys[artifact_key] == first.manifest.size
    assert f"lb/notes/{first.manifest.manifest_name}" in keys
    head = s3_server.client().head_object(Bucket=bucket, Key=artifact_key)
    assert head["Metadata"]["lifeboat-sha256"] == first.manifest.sha256

    for _ in range(3):
        time.sleep(0.01)
        change_db(db)
        service.backup("notes", upload=False)
        service.upload("notes")
    records = service.snapshots("notes")
    assert [r.locations for r in records] == [["local", "offsite"], ["offsite"]], (
        "local keeps 1, the remote keeps 2"
    )
    assert len([k for k in objects(s3_server, bucket) if k.endswith(".json")]) == 2

    older = records[1]
    assert older.status == "remote" and not older.path.exists()
    out = tmp_path / "from-remote.db"
    result = service.restore(older.id, to=out)
    assert result.method == "new-file" and out.exists()
    assert not files_under(home / "tmp"), "downloads are cleaned up"
    newest = records[0]
    newest.path.unlink()
    service.restore(newest.id, to=tmp_path / "newest.db")
    assert db_content(tmp_path / "newest.db") == db_content(db)  # the last change


def test_multipart_upload_over_the_threshold(
    service: Service, s3_server, bucket: str, tmp_path: Path
):
    db = make_db(tmp_path / "big.db", rows=6000, payload=4000)  # random half: ~12 MB stored
    add_remote(service, s3_server, bucket, multipart_threshold="5MiB", part_size="5MiB")
    service.add_source(db, remote="offsite")
    record = service.backup("big", upload=False)
    assert record.manifest.size > 6 * 1024 * 1024
    service.upload("big")
    head = s3_server.client().head_object(Bucket=bucket, Key=f"lb/big/{record.manifest.artifact}")
    assert "-" in head["ETag"], "uploaded in parts"
    assert head["ContentLength"] == record.manifest.size
    record.path.unlink()
    out = tmp_path / "back.db"
    service.restore(record.id, to=out)
    assert db_content(out) == db_content(db)


def test_catalog_rebuild_reads_the_remote(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path
):
    db = make_db(tmp_path / "notes.db")
    add_remote(service, s3_server, bucket)
    service.add_source(db, remote="offsite", keep="last=1", remote_keep="last=5")
    set_source(home, "notes", incremental=False)
    ids = []
    for _ in range(3):
        change_db(db)
        ids.append(service.backup("notes", upload=False).id)
        service.upload("notes")
    (home / "catalog.sqlite").unlink()
    for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (home / extra).unlink(missing_ok=True)
    report = Service().rebuild_catalog()
    assert report.remote_snapshots == {"offsite": 3} and not report.remote_errors
    records = Service().snapshots("notes")
    assert sorted(r.id for r in records) == sorted(ids)
    assert sum(r.local for r in records) == 1
    assert all(r.copy_on("offsite") for r in records)


@pytest.mark.usefixtures("instant_retries")
def test_faults_never_mark_a_partial_upload(
    service: Service, s3_server, bucket: str, tmp_path: Path, proxy
):
    db = make_db(tmp_path / "notes.db", rows=3000, payload=3000)
    add_remote(
        service, s3_server, bucket, endpoint=proxy.url, multipart_threshold="5MiB", part_size="5MiB"
    )
    service.add_source(db, remote="offsite", remote_keep="last=20")
    proxy.faults.error_every = 4
    proxy.faults.drop_every = 3
    proxy.faults.delay = 0.05
    uploaded = 0
    for _ in range(4):
        change_db(db)
        service.backup("notes", upload=False)
        with contextlib.suppress(RemoteError):  # stays not uploaded; a later run takes it
            uploaded += len(service.upload("notes").uploaded)
    assert proxy.injected["error"] and proxy.injected["drop"], proxy.injected
    proxy.faults.reset()
    uploaded += len(service.upload("notes").uploaded)
    records = service.snapshots("notes")
    assert uploaded == len(records) == 4
    client = s3_server.client()
    for record in records:
        copy = record.copy_on("offsite")
        assert copy is not None
        body = client.get_object(Bucket=bucket, Key=copy.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == record.manifest.sha256
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads"), (
        "no abandoned multipart uploads"
    )


@pytest.mark.usefixtures("instant_retries")
def test_offline_keeps_local_then_uploads_oldest_first(
    service: Service, s3_server, bucket: str, tmp_path: Path, proxy
):
    db = make_db(tmp_path / "notes.db")
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    service.add_source(db, remote="offsite")
    proxy.faults.offline = True
    taken = []
    for _ in range(3):
        change_db(db)
        taken.append(service.backup("notes", upload=False).id)
        with pytest.raises(RemoteError, match="cannot reach"):
            service.upload("notes")
    assert all(not r.copies for r in service.snapshots("notes"))
    proxy.faults.reset()
    outcome = service.upload("notes")
    assert outcome.uploaded == taken, "oldest first"


def test_bandwidth_limit_is_honoured(service: Service, s3_server, bucket: str, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=1500, payload=4000)
    add_remote(service, s3_server, bucket, max_upload_rate="1MB/s")
    service.add_source(db, remote="offsite")
    record = service.backup("notes", upload=False)
    size = record.manifest.size
    assert size > 2_500_000
    started = time.monotonic()
    service.upload("notes")
    took = time.monotonic() - started
    assert took >= size / 1_000_000 * 0.7, f"{size} bytes in {took:.1f} s"


def test_no_secret_anywhere(s3_server, bucket: str, tmp_path: Path, home: Path, file_keyring: Path):
    db = make_db(tmp_path / "notes.db")
    run = lambda *args, stdin=None: cli_process(home, *args, input=stdin)  # noqa: E731
    added = run(
        "remote",
        "add",
        "offsite",
        "--provider",
        "minio",
        "--bucket",
        bucket,
        "--endpoint",
        s3_server.endpoint,
        "--prefix",
        "lb",
        "--access-key-id",
        s3_server.access_key_id,
        "--secret-stdin",
        stdin=s3_server.secret_access_key + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert run("source", "add", str(db), "--remote", "offsite").returncode == 0
    backed = run("backup", "notes")
    assert backed.returncode == 0 and "uploaded to offsite" in backed.stdout, backed.stderr
    assert run("remote", "test", "offsite").returncode == 0
    assert run("upload", "--all").returncode == 0
    assert run("catalog", "rebuild").returncode == 0
    wrong = run(
        "remote",
        "set",
        "offsite",
        "--access-key-id",
        s3_server.access_key_id,
        "--secret-stdin",
        stdin="wrong-secret-value-1234\n",
    )
    assert wrong.returncode == 0, wrong.stderr
    refused = run("remote", "test", "offsite")
    assert refused.returncode == 1 and "refused the credentials" in refused.stderr
    files = [p for p in home.rglob("*") if p.is_file()]
    assert {"config.toml", "lifeboat.log"} <= {p.name for p in files}
    assert any(p.name.startswith("catalog.sqlite") for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (
            s3_server.secret_access_key,
            s3_server.access_key_id,
            "wrong-secret-value-1234",
        ):
            assert secret.encode() not in data, f"a secret leaked into {path}"
    assert [p for p in file_keyring.rglob("*") if p.is_file()], "it is in the keyring"


def test_scheduler_uploads_after_a_backup(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path
):
    from lifeboat.scheduling.scheduler import Scheduler

    db = make_db(tmp_path / "notes.db")
    add_remote(service, s3_server, bucket)
    service.add_source(db, remote="offsite", schedule="manual")
    scheduler = Scheduler(service)
    scheduler.start()
    try:
        scheduler.backup_now("notes")
        deadline = time.monotonic() + 30
        while not (service.snapshots("notes") and service.snapshots("notes")[0].copies):
            assert time.monotonic() < deadline, "not uploaded"
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    kinds = [j.kind for j in service.workspace.catalog.jobs(source="notes")]
    assert "upload" in kinds and "backup" in kinds
    set_source(home, "notes", remote=None)


def test_a_file_damaged_on_disk_is_never_uploaded(
    service: Service, s3_server, bucket: str, tmp_path: Path
):
    from lifeboat.foundation.errors import CorruptSnapshot

    db = make_db(tmp_path / "notes.db", rows=200)
    add_remote(service, s3_server, bucket)
    service.add_source(db, remote="offsite")
    record = service.backup("notes", upload=False)
    data = bytearray(record.path.read_bytes())
    data[len(data) // 3] ^= 0x40
    record.path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshot, match="damaged on disk"):
        service.upload("notes")
    assert objects(s3_server, bucket) == {}
    assert not service.snapshots("notes")[0].copies


def test_testing_settings_before_they_are_saved(
    service: Service, s3_server, bucket: str, home: Path
):
    settings = {
        "provider": "minio",
        "bucket": bucket,
        "endpoint": s3_server.endpoint,
        "prefix": "lb",
    }
    result = service.test_remote(
        "draft",
        access_key_id=s3_server.access_key_id,
        secret=s3_server.secret_access_key,
        **settings,
    )
    assert result.bucket == bucket
    with pytest.raises(RemoteError, match="refused the credentials of remote draft"):
        service.test_remote(
            "draft", access_key_id=s3_server.access_key_id, secret="not-the-secret", **settings
        )
    assert service.remotes() == [] and not (home / "config.toml").exists(), "nothing saved"
    with pytest.raises(LifeboatError, match="no credentials for remote 'draft'"):
        service.test_remote("draft", **settings)

    add_remote(service, s3_server, bucket)
    # A changed field of a saved remote is tested with the secret kept in the keyring.
    with pytest.raises(RemoteError):
        service.test_remote("offsite", bucket=bucket + "-missing")
    assert service.test_remote("offsite", prefix="elsewhere").bucket == bucket
    assert service.remotes()[0].prefix == "lb"
