"""A remote copy counts only when the server is proven to hold exactly our bytes.

Attacks through a proxy that flips bytes in transit, cuts downloads short and shows
ETags that are not MD5s; objects truncated or replaced on the server; `lifeboat upload`
killed with SIGKILL or cancelled in the middle of a multipart upload. Each test checks
the rule on the server itself (its bytes, its open multipart uploads), not only the exit
code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.retention import parse_keep
from lifeboat.core.runs import run_alive
from lifeboat.remote.plans import plan_remote_prune, plan_uploads
from lifeboat.remote.upload import REMOTE_OBJECT
from lifeboat.service import Service
from tests.adversarial.conftest import lifeboat
from tests.helpers.databases import change_db, make_db
from tests.storage.test_remote import add_remote

MIB = 1024 * 1024


def backup_changed(service: Service, name: str) -> SnapshotRecord:
    """A snapshot of `name` kept here, after a change to its database (an unchanged
    database is not stored again)."""
    change_db(service.source(name).path)
    return service.backup(name, upload=False)


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database whose snapshot is ~20 MB (half of each row is random): 4 parts."""
    return make_db(tmp_path_factory.mktemp("big") / "template.db", rows=10_000, payload=4000)


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def on_server(s3_server, bucket: str, key: str) -> bytes:
    return s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def open_on_server(s3_server, bucket: str) -> dict[str, str]:
    listed = s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return {u["UploadId"]: u["Key"] for u in listed}


def assert_every_copy_is_exact(service: Service, s3_server, bucket: str) -> int:
    """THE RULE: each copy the catalog counts (proven) holds the local artifact's bytes."""
    counted = 0
    for record in service.snapshots():
        copy = record.proven_copy_on("offsite")
        if copy is None:
            continue
        body = on_server(s3_server, bucket, copy.key)
        assert sha256_of(body) == record.manifest.sha256 == sha256_of(record.path.read_bytes()), (
            f"{record.id} counted but the server holds other bytes"
        )
        counted += 1
    return counted


def wait_for(what: str, condition: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def start_upload(home: Path, source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "upload", source],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def big_source(service: Service, big_db: Path, tmp_path: Path, name: str = "big") -> None:
    path = tmp_path / f"{name}.db"
    shutil.copyfile(big_db, path)
    service.add_source(path, remote="offsite")


def parts_sent(s3_server, bucket: str, upload_id: str, key: str) -> int:
    reply = s3_server.client().list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    return len(reply.get("Parts", []))


# -- bytes changed in transit ---------------------------------------------------------


@pytest.mark.parametrize("rows", [300, 4000], ids=["one-request", "multipart"])
def test_bytes_flipped_in_transit_never_count(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, proxy, rows: int
):
    add_remote(
        service,
        s3_server,
        bucket,
        endpoint=proxy.url,
        multipart_threshold="5MiB",
        part_size="5MiB",
        upload_concurrency=2,
    )
    service.add_source(make_db(tmp_path / "notes.db", rows=rows, payload=4000), remote="offsite")
    failures = 0
    for every in (1, 2, 3):
        backup_changed(service, "notes")
        proxy.faults.corrupt_every = every
        result = lifeboat(home, "upload", "notes")
        assert "Traceback" not in result.stderr
        if result.returncode != 0:
            failures += 1
            assert result.returncode == 1, result.stderr
            # Refused as changed, or (the completion's own body changed) as malformed.
            assert "other bytes" in result.stderr or "failed the request" in result.stderr, (
                result.stderr
            )
        assert_every_copy_is_exact(service, s3_server, bucket)
    assert proxy.injected["corrupt"] >= 3
    assert failures >= 1, "every body changed: that can never be proven"
    proxy.faults.reset()
    assert lifeboat(home, "upload", "notes").returncode == 0
    assert assert_every_copy_is_exact(service, s3_server, bucket) == 3
    assert open_on_server(s3_server, bucket) == {}


def test_a_server_without_md5_etags_is_proven_by_reading_back(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, proxy
):
    add_remote(
        service, s3_server, bucket, endpoint=proxy.url, multipart_threshold="5MiB", part_size="5MiB"
    )
    service.add_source(make_db(tmp_path / "notes.db", rows=4000, payload=4000), remote="offsite")
    proxy.faults.opaque_etags = True
    first = service.backup("notes", upload=False)
    done = lifeboat(home, "upload", "notes")
    assert done.returncode == 0, done.stderr
    assert assert_every_copy_is_exact(service, s3_server, bucket) == 1
    # Now the bytes change in transit and the ETags cannot tell: reading back does.
    second = backup_changed(service, "notes")
    proxy.faults.corrupt_every = 1
    refused = lifeboat(home, "upload", "notes")
    assert refused.returncode == 1 and "holds other bytes" in refused.stderr, refused.stderr
    assert service.snapshot(second.id).copy_on("offsite") is None, "not counted"
    assert service.snapshot(first.id).copy_on("offsite") is not None
    assert_every_copy_is_exact(service, s3_server, bucket)


# -- objects changed on the server ----------------------------------------------------


def test_catalog_rebuild_does_not_adopt_a_truncated_or_replaced_object(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path
):
    add_remote(service, s3_server, bucket)
    service.add_source(
        make_db(tmp_path / "notes.db", rows=600, payload=2000),
        remote="offsite",
        keep="last=10",
        remote_keep="last=10",
    )
    records = [backup_changed(service, "notes") for _ in range(3)]
    assert service.upload("notes").uploaded == [r.id for r in records]
    copies = [service.snapshot(r.id).copy_on("offsite") for r in records]
    client = s3_server.client()
    truncated = on_server(s3_server, bucket, copies[0].key)[:-1000]
    replaced = os.urandom(records[1].manifest.size)
    client.put_object(Bucket=bucket, Key=copies[0].key, Body=truncated)
    client.put_object(Bucket=bucket, Key=copies[1].key, Body=replaced)
    before = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}

    rebuilt = lifeboat(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    out = rebuilt.stdout
    for copy in copies[:2]:
        assert f"remote copy does not match its manifest: {copy.key} (" in out, out
    assert f"{len(truncated)} bytes, its manifest says {records[0].manifest.size}" in out
    assert "ETag" in out and out.count("; not counted") == 2
    assert copies[2].key not in out
    fresh = Service()
    assert [fresh.snapshot(r.id).copy_on("offsite") is not None for r in records] == [
        False,
        False,
        True,
    ], "only the untouched copy counts"
    after = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert after == before, "nothing deleted on the remote"
    assert on_server(s3_server, bucket, copies[0].key) == truncated
    assert on_server(s3_server, bucket, copies[1].key) == replaced
    assert all(r.path.is_file() for r in records), "local snapshots untouched"
    # The next upload puts the real bytes back.
    assert lifeboat(home, "upload", "notes").returncode == 0
    assert assert_every_copy_is_exact(fresh, s3_server, bucket) == 3


def test_a_download_cut_short_is_refused_and_leaves_nothing(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, proxy
):
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    db = make_db(tmp_path / "notes.db", rows=800, payload=3000)
    service.add_source(db, remote="offsite")
    record = service.backup("notes", upload=False)
    service.upload("notes")
    record.path.unlink()  # only the remote copy is left
    proxy.faults.truncate_responses = True
    target = tmp_path / "restored.db"
    refused = lifeboat(home, "restore", record.id, "--to", str(target), "--yes")
    assert refused.returncode == 1 and "cut short" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert not target.exists()
    leftovers = (
        [p for p in (home / "tmp").rglob("*") if p.is_file()] if (home / "tmp").exists() else []
    )
    assert leftovers == [], "no partial download is left behind"


# -- killed and cancelled uploads -----------------------------------------------------


def test_kill_9_mid_multipart_upload_then_the_next_upload_aborts_it(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, proxy, big_db: Path
):
    add_remote(
        service,
        s3_server,
        bucket,
        endpoint=proxy.url,
        multipart_threshold="5MiB",
        part_size="5MiB",
        upload_concurrency=1,
    )
    big_source(service, big_db, tmp_path)
    record = service.backup("big", upload=False)
    assert record.manifest.size > 15 * MIB
    proxy.faults.hold = "partNumber=2"  # the first part goes up, the second waits
    upload = start_upload(home, "big")
    try:
        upload_id, key = wait_for(
            "an open upload with a part",
            lambda: next(
                (
                    (u, k)
                    for u, k in open_on_server(s3_server, bucket).items()
                    if parts_sent(s3_server, bucket, u, k) >= 1
                ),
                None,
            ),
        )
    finally:
        upload.kill()
        upload.wait()
    assert open_on_server(s3_server, bucket) == {upload_id: key}, "left open by the kill"
    rows = service.workspace.catalog.open_uploads("offsite")
    assert [r.upload_id for r in rows] == [upload_id]
    assert not run_alive(service.workspace.paths.run_dir, rows[0].run)

    proxy.faults.reset()
    done = lifeboat(home, "upload", "big")
    assert done.returncode == 0, done.stderr
    assert open_on_server(s3_server, bucket) == {}, "aborted: nothing left billed"
    assert service.workspace.catalog.open_uploads() == []
    assert assert_every_copy_is_exact(service, s3_server, bucket) == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_a_random_moment_then_the_next_upload(
    service: Service,
    s3_server,
    bucket: str,
    tmp_path: Path,
    home: Path,
    proxy,
    big_db: Path,
    seed: int,
):
    add_remote(
        service,
        s3_server,
        bucket,
        endpoint=proxy.url,
        multipart_threshold="5MiB",
        part_size="5MiB",
        upload_concurrency=2,
    )
    big_source(service, big_db, tmp_path)
    service.backup("big", upload=False)
    proxy.faults.delay = 0.2
    moment = random.Random(seed).uniform(0.8, 3.5)
    upload = start_upload(home, "big")
    time.sleep(moment)
    upload.kill()
    upload.wait()
    proxy.faults.reset()
    done = lifeboat(home, "upload", "big")
    assert done.returncode == 0, f"killed after {moment:.2f} s: {done.stderr}"
    assert open_on_server(s3_server, bucket) == {}, f"killed after {moment:.2f} s"
    assert service.workspace.catalog.open_uploads() == []
    assert assert_every_copy_is_exact(service, s3_server, bucket) == 1


def test_a_live_runs_upload_is_never_aborted_by_another_process(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, big_db: Path, proxy
):
    from lifeboat.remote.open_uploads import MARK_PREFIX, abort_ended_uploads_soon

    add_remote(
        service,
        s3_server,
        bucket,
        endpoint=proxy.url,
        multipart_threshold="5MiB",
        part_size="5MiB",
        upload_concurrency=1,
    )
    big_source(service, big_db, tmp_path)
    service.add_source(make_db(tmp_path / "small.db"), remote="offsite")
    service.backup("big", upload=False)
    service.backup("small", upload=False)
    # Its parts wait at the proxy, so the other process surely runs while it is open.
    proxy.faults.hold = "/lb/big/"
    upload = start_upload(home, "big")
    try:
        # (a mark row comes first, until the server has given the upload its id)
        rows = wait_for(
            "an upload recorded as open",
            lambda: [
                r
                for r in service.workspace.catalog.open_uploads("offsite")
                if not r.upload_id.startswith(MARK_PREFIX)
            ],
        )
        assert len(rows) == 1 and run_alive(service.workspace.paths.run_dir, rows[0].run)
        upload_id = rows[0].upload_id
        wait_for("its first part at the proxy", lambda: proxy.injected["held"])
        assert upload_id in open_on_server(s3_server, bucket)
        # Another process starts (a scheduler) and another upload runs meanwhile.
        assert abort_ended_uploads_soon(Service().workspace) is None
        other = lifeboat(home, "upload", "small")
        assert other.returncode == 0, other.stderr
        assert upload.poll() is None, "the test needs the upload to be still running"
        assert upload_id in open_on_server(s3_server, bucket)
        proxy.faults.hold = ""
        _, err = upload.communicate(timeout=120)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.wait()
    assert upload.returncode == 0, err  # its upload was never pulled away under it
    assert open_on_server(s3_server, bucket) == {}
    assert assert_every_copy_is_exact(service, s3_server, bucket) == 2


def test_cancel_mid_multipart_upload_leaves_no_open_upload_and_no_object(
    service: Service, s3_server, bucket: str, tmp_path: Path, home: Path, proxy, big_db: Path
):
    add_remote(
        service,
        s3_server,
        bucket,
        endpoint=proxy.url,
        multipart_threshold="5MiB",
        part_size="5MiB",
        upload_concurrency=1,
    )
    big_source(service, big_db, tmp_path)
    record = service.backup("big", upload=False)
    # Its second part goes up slowly until the test is done: the upload surely still runs
    # when the cancel comes, and can stop at once.
    proxy.faults.trickle = "partNumber=2"
    upload = start_upload(home, "big")
    try:
        wait_for("an open upload", lambda: open_on_server(s3_server, bucket))
        job = wait_for(
            "the upload job",
            lambda: next(
                (
                    j
                    for j in service.workspace.catalog.jobs(source="big")
                    if j.kind == "upload" and j.status == "running"
                ),
                None,
            ),
        )
        assert lifeboat(home, "cancel", str(job.id)).returncode == 0
        _, err = upload.communicate(timeout=60)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.wait()
    assert upload.returncode == 1 and "cancelled" in err, err
    assert open_on_server(s3_server, bucket) == {}
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", []) == []
    assert service.workspace.catalog.open_uploads() == []
    assert service.snapshot(record.id).copy_on("offsite") is None


# -- copies an older Lifeboat uploaded (no proof recorded) ------------------------------


def make_old_style(s3_server, bucket: str, manifest_key: str) -> None:
    """The remote manifest as an older Lifeboat wrote it: without the `remote_object`
    record of the object as a proven upload left it."""
    client = s3_server.client()
    doc = json.loads(on_server(s3_server, bucket, manifest_key))
    del doc[REMOTE_OBJECT]
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(doc).encode())


def flip_a_byte(s3_server, bucket: str, key: str) -> bytes:
    """Flipped bytes on the server, the size kept (as the issue says old copies may be)."""
    body = bytearray(on_server(s3_server, bucket, key))
    body[len(body) // 2] ^= 0x40
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=bytes(body))
    return bytes(body)


def bucket_state(s3_server, bucket: str) -> dict[str, bytes]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: on_server(s3_server, bucket, o["Key"]) for o in listed}


def old_style_copies(service: Service, s3_server, bucket: str, home: Path, count: int):
    """`count` snapshots uploaded, their remote manifests made old-style, the catalog
    rebuilt from what the remote holds."""
    service.add_source(
        make_db(home.parent / "notes.db", rows=600, payload=2000),
        remote="offsite",
        keep="last=10",
        remote_keep="last=10",
    )
    records = [backup_changed(service, "notes") for _ in range(count)]
    assert service.upload("notes").uploaded == [r.id for r in records]
    copies = [service.snapshot(r.id).copy_on("offsite") for r in records]
    for copy in copies:
        make_old_style(s3_server, bucket, copy.manifest_key)
    return records, copies


def test_an_old_copy_is_adopted_unproven_then_proven_by_reading_it_back(
    service: Service, s3_server, bucket: str, home: Path, proxy
):
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    records, _ = old_style_copies(service, s3_server, bucket, home, 2)
    rebuilt = lifeboat(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "does not match" not in rebuilt.stdout

    # Adopted, but counted nowhere: not as a copy, not for retention, not as uploaded.
    fresh = Service()
    adopted = [fresh.snapshot(r.id) for r in records]
    assert all(r.copy_on("offsite") is not None for r in adopted)
    assert [r.proven_copy_on("offsite") for r in adopted] == [None, None]
    assert [r.copy_on("offsite").proven for r in adopted] == [False, False]
    now = adopted[0].manifest.created_at
    keep = parse_keep("last=10")
    assert [r.id for r in plan_uploads(adopted, "offsite", keep, now)] == [r.id for r in records]
    assert plan_remote_prune(adopted, "offsite", parse_keep("last=1"), now) == []
    listed = lifeboat(home, "snapshots", "notes")
    assert listed.stdout.count("local+offsite (not proven yet)") == 2, listed.stdout
    status = json.loads(lifeboat(home, "status", "--json").stdout)
    assert status["sources"][0]["unproven_copies"] == 2
    assert status["sources"][0]["uploads_pending"] == 2
    before = bucket_state(s3_server, bucket)

    # A read-back cut short proves nothing either way: nothing recorded, nothing sent.
    proxy.faults.truncate_responses = True
    cut = lifeboat(home, "upload", "notes")
    assert cut.returncode == 1 and "Traceback" not in cut.stderr, cut.stderr
    for record in records:
        copy = fresh.snapshot(record.id).copy_on("offsite")
        assert not copy.proven and copy.proof_failed is None, "still unproven, not called bad"
    assert bucket_state(s3_server, bucket) == before

    proxy.faults.reset()
    done = lifeboat(home, "upload", "notes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uploaded"] == [], "proven where they are: not sent again"
    assert bucket_state(s3_server, bucket) == before, "nothing written or deleted"
    job = fresh.workspace.catalog.jobs(limit=1, source="notes")[0]
    assert json.loads(job.detail)["proven"] == [r.id for r in records]
    assert assert_every_copy_is_exact(fresh, s3_server, bucket) == 2
    log_text = fresh.workspace.paths.log_file.read_text()
    assert "proving 2 old copies of notes on offsite by reading them back" in log_text
    assert "2 proven, 0 not matching" in log_text
    assert "not proven" not in lifeboat(home, "snapshots", "notes").stdout
    assert (
        json.loads(lifeboat(home, "status", "--json").stdout)["sources"][0]["unproven_copies"] == 0
    )


def test_a_corrupted_old_copy_is_sent_again_and_nothing_is_deleted(
    service: Service, s3_server, bucket: str, home: Path
):
    add_remote(service, s3_server, bucket)
    records, copies = old_style_copies(service, s3_server, bucket, home, 3)
    here, gone, intact = records
    flip_a_byte(s3_server, bucket, copies[0].key)
    kept_bad = flip_a_byte(s3_server, bucket, copies[1].key)
    service.delete_snapshot(gone.id)  # the user's decision: only its remote copy is left
    assert lifeboat(home, "catalog", "rebuild").returncode == 0
    fresh = Service()
    assert fresh.snapshot(gone.id).status == "remote"
    assert all(not fresh.snapshot(r.id).copy_on("offsite").proven for r in records)
    before = bucket_state(s3_server, bucket)

    failed = lifeboat(home, "upload", "notes")
    # The copy of a snapshot that is not here to send again is a problem to hear of.
    assert failed.returncode == 1, failed.stderr
    assert f"snapshot {gone.id} ({copies[1].key})" in failed.stderr
    assert "1 copy on remote offsite does not match its manifest" in failed.stderr
    assert "nothing was deleted" in failed.stderr
    assert here.id not in failed.stderr and intact.id not in failed.stderr
    assert "damaged" not in failed.stderr and "Traceback" not in failed.stderr
    after = bucket_state(s3_server, bucket)
    assert set(after) == set(before), "no object deleted"
    assert after[copies[1].key] == kept_bad, "the copy that does not match is kept as it is"
    assert after[copies[0].key] == here.path.read_bytes(), "sent again: the real bytes"
    assert after[copies[2].key] == before[copies[2].key], "the proven one is not sent again"
    assert here.path.is_file() and intact.path.is_file(), "local snapshots untouched"
    assert assert_every_copy_is_exact(fresh, s3_server, bucket) == 2
    bad = fresh.snapshot(gone.id).copy_on("offsite")
    assert not bad.proven and "hash differently" in bad.proof_failed
    assert fresh.snapshot(gone.id).locations == ["offsite (does not match its manifest)"]
    restore = lifeboat(home, "restore", gone.id, "--to", str(home.parent / "out.db"), "--yes")
    assert restore.returncode != 0 and "does not match its manifest" in restore.stderr
    assert not (home.parent / "out.db").exists()

    # Told once; not read back again (and not deleted) by the next uploads.
    again = lifeboat(home, "upload", "notes", "--json")
    assert again.returncode == 0, again.stderr
    assert bucket_state(s3_server, bucket) == after
    assert fresh.snapshot(gone.id).copy_on("offsite").proof_failed == bad.proof_failed


def test_a_copy_recorded_before_proofs_were_kept_is_proven_by_its_etag(
    service: Service, s3_server, bucket: str, home: Path, tmp_path: Path
):
    """A catalog from before schema 5: its copies are not taken as proven, but a copy
    whose remote manifest recorded the ETag of a proven upload is proven by that ETag,
    without reading it back."""
    import sqlite3

    add_remote(service, s3_server, bucket)
    service.add_source(make_db(tmp_path / "notes.db", rows=300), remote="offsite")
    record = service.backup("notes", upload=False)
    service.upload("notes")
    with contextlib.closing(sqlite3.connect(service.workspace.catalog.path)) as db:
        db.execute("update remote_copies set proven=0")
        db.commit()
    assert service.snapshot(record.id).proven_copy_on("offsite") is None
    done = lifeboat(home, "upload", "notes")
    assert done.returncode == 0, done.stderr
    assert service.snapshot(record.id).proven_copy_on("offsite") is not None
    log_text = service.workspace.paths.log_file.read_text()
    assert f"proved the copy of snapshot {record.id} on offsite (by its ETag)" in log_text


def test_an_old_encrypted_copy_is_proven_by_its_ciphertext_or_sent_again(
    service: Service, s3_server, bucket: str, home: Path, tmp_path: Path
):
    from tests.helpers.databases import db_content

    service.init_key()
    add_remote(service, s3_server, bucket, encrypt=True)
    records, copies = old_style_copies(service, s3_server, bucket, home, 2)
    assert all(c.encrypted and c.key.endswith(".age") for c in copies)
    changed = flip_a_byte(s3_server, bucket, copies[1].key)
    assert lifeboat(home, "catalog", "rebuild").returncode == 0
    before = bucket_state(s3_server, bucket)

    done = lifeboat(home, "upload", "notes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uploaded"] == [records[1].id]
    after = bucket_state(s3_server, bucket)
    assert set(after) == set(before)
    assert after[copies[0].key] == before[copies[0].key], "proven by its ciphertext: kept"
    fresh = Service()
    new = fresh.snapshot(records[1].id).proven_copy_on("offsite")
    assert new is not None and new.key == copies[1].key
    assert after[new.key] != changed and sha256_of(after[new.key]) == new.sha256
    assert fresh.snapshot(records[0].id).proven_copy_on("offsite").sha256 == copies[0].sha256
    # What the remote now holds restores (the local files gone).
    for record in records:
        record.path.unlink()
    out = tmp_path / "from-remote.db"
    assert lifeboat(home, "restore", records[1].id, "--to", str(out), "--yes").returncode == 0
    assert db_content(out) == db_content(home.parent / "notes.db")
