"""S3Store against the real S3 server process, through the fault proxy: an upload counts
only once the server is proven to hold the bytes sent; downloads come out whole or not
at all; multipart uploads are reported to the ledger and never left open."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.secrets import S3Credentials
from lifeboat.foundation.errors import Cancelled, CorruptSnapshot, OperationFailed, RemoteError
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.storage.s3 import S3Store

MIB = 1024 * 1024


class Ledger:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def opening(self, key: str) -> str:
        self.events.append(("opening", key))
        return "mark"

    def opened(self, key: str, upload_id: str, mark: str) -> None:
        assert mark == "mark"
        self.events.append(("opened", upload_id))

    def closed(self, upload_id: str) -> None:
        self.events.append(("closed", upload_id))


def make_store(s3_server, bucket: str, endpoint: str | None = None, **extra) -> S3Store:
    remote = RemoteConfig(
        name="offsite",
        provider="minio",
        bucket=bucket,
        endpoint=endpoint or s3_server.endpoint,
        prefix="lb",
        multipart_threshold="5MiB",
        part_size="5MiB",
        **extra,
    )
    return S3Store(remote, S3Credentials(s3_server.access_key_id, s3_server.secret_access_key))


@pytest.fixture
def store_at(s3_server, bucket: str):
    made: list[S3Store] = []

    def make(endpoint: str | None = None, **extra) -> S3Store:
        made.append(make_store(s3_server, bucket, endpoint, **extra))
        return made[-1]

    yield make
    for store in made:
        store.close()


def server_sha(s3_server, bucket: str, key: str) -> str:
    body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def open_uploads(s3_server, bucket: str) -> list[str]:
    listed = s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [u["UploadId"] for u in listed]


def keys(s3_server, bucket: str) -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return [o["Key"] for o in listed]


def a_file(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / f"artifact-{size}"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [0, 1000, 3 * MIB, 13 * MIB])
def test_a_clean_upload_is_proven_by_its_etag(
    store_at, s3_server, bucket: str, tmp_path: Path, size: int
):
    store = store_at()
    path, sha = a_file(tmp_path, size)
    ledger = Ledger()
    stored = store.put_file(
        "lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken(), ledger=ledger
    )
    assert (stored.size, stored.sha256, stored.proof) == (size, sha, "etag")
    assert server_sha(s3_server, bucket, "lb/a") == sha
    head = s3_server.client().head_object(Bucket=bucket, Key="lb/a")
    assert stored.etag == head["ETag"].strip('"')
    if size >= 5 * MIB:
        assert stored.part_size == 5 * MIB and stored.etag.endswith("-3")
        upload_id = ledger.events[1][1]
        assert ledger.events == [("opening", "lb/a"), ("opened", upload_id), ("closed", upload_id)]
    else:
        assert stored.part_size == 0 and ledger.events == []
    assert open_uploads(s3_server, bucket) == []


def test_a_byte_flipped_in_transit_is_sent_again(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy, caplog
):
    store = store_at(proxy.url)
    store.put_bytes("lb/first", b"the first request with a body", metadata={})
    proxy.faults.corrupt_every = 2  # the next body (the artifact's) arrives changed
    path, sha = a_file(tmp_path, 2 * MIB)
    stored = store.put_file("lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken())
    assert proxy.injected["corrupt"] >= 1
    assert "received other bytes than were sent" in caplog.text
    assert stored.proof == "etag" and server_sha(s3_server, bucket, "lb/a") == sha


def test_a_part_flipped_in_transit_is_sent_again(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy, caplog
):
    store = store_at(proxy.url, upload_concurrency=1)
    # Bodies in order: parts 1-3, part 4 (changed), part 4 again, the completion.
    proxy.faults.corrupt_every = 4
    path, sha = a_file(tmp_path, 16 * MIB)
    stored = store.put_file("lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken())
    assert proxy.injected["corrupt"] == 1
    assert "received other bytes than were sent for part 4" in caplog.text
    assert stored.proof == "etag" and stored.sha256 == sha
    assert server_sha(s3_server, bucket, "lb/a") == sha


def test_a_completion_changed_in_transit_leaves_nothing(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url, upload_concurrency=1)
    proxy.faults.corrupt_every = 2  # parts 2 and 3 (both sent again), the completion
    path, _ = a_file(tmp_path, 11 * MIB)
    ledger = Ledger()
    with pytest.raises(RemoteError):
        store.put_file(
            "lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken(), ledger=ledger
        )
    assert proxy.injected["corrupt"] == 3
    assert open_uploads(s3_server, bucket) == [] and keys(s3_server, bucket) == []
    assert [e for e, _ in ledger.events] == ["opening", "opened", "closed"]


def test_every_body_changed_in_transit_is_never_counted(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url)
    proxy.faults.corrupt_every = 1
    path, _ = a_file(tmp_path, 1 * MIB)
    with pytest.raises(RemoteError, match="other bytes"):
        store.put_file("lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken())


def test_etags_that_are_not_md5s_are_proven_by_reading_back(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url)
    proxy.faults.opaque_etags = True
    for size in (2 * MIB, 12 * MIB):
        path, sha = a_file(tmp_path, size)
        stored = store.put_file(
            "lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken()
        )
        assert stored.proof == "read-back" and stored.sha256 == sha
        assert len(stored.etag) == 40, "the ETag as this server shows it"
        assert server_sha(s3_server, bucket, "lb/a") == sha
    assert open_uploads(s3_server, bucket) == []


def test_a_read_back_that_differs_is_not_counted(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url)
    proxy.faults.opaque_etags = True  # the ETag cannot tell, so only reading back can
    proxy.faults.corrupt_every = 1
    path, sha = a_file(tmp_path, 1 * MIB)
    with pytest.raises(RemoteError, match="holds other bytes"):
        store.put_file("lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken())
    assert server_sha(s3_server, bucket, "lb/a") != sha


def test_a_content_check_that_fails_writes_nothing(
    store_at, s3_server, bucket: str, tmp_path: Path
):
    store = store_at()
    ledger = Ledger()

    def check(sha256: str) -> None:
        raise CorruptSnapshot("damaged on disk")

    for size in (1 * MIB, 11 * MIB):
        path, _ = a_file(tmp_path, size)
        with pytest.raises(CorruptSnapshot):
            store.put_file(
                "lb/a",
                path,
                metadata={},
                progress=no_progress,
                cancel=CancelToken(),
                ledger=ledger,
                check=check,
            )
    assert keys(s3_server, bucket) == [] and open_uploads(s3_server, bucket) == []
    assert [e for e, _ in ledger.events] == ["opening", "opened", "closed"], "aborted, and said so"


def test_a_cancelled_multipart_upload_leaves_nothing_open(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url, upload_concurrency=2)
    proxy.faults.delay = 0.3
    cancel = CancelToken()
    seen: list[int] = []

    def progress(phase: str, done: int, total: int) -> None:
        seen.append(done)
        if done >= 6 * MIB:
            cancel.cancel()

    ledger = Ledger()
    path, _ = a_file(tmp_path, 30 * MIB)
    with pytest.raises(Cancelled):
        store.put_file("lb/a", path, metadata={}, progress=progress, cancel=cancel, ledger=ledger)
    assert max(seen) < 30 * MIB
    assert keys(s3_server, bucket) == [] and open_uploads(s3_server, bucket) == []
    assert [e for e, _ in ledger.events] == ["opening", "opened", "closed"]


def test_progress_counts_each_byte_once_and_keeps_to_the_rate(
    store_at, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import time

    store = store_at(max_upload_rate="7MB/s", upload_concurrency=3)
    limit = store.uploads.limit
    charged: list[int] = []
    take = limit.take

    def counted_take(size: int, cancel) -> None:
        charged.append(size)
        take(size, cancel)

    monkeypatch.setattr(limit, "take", counted_take)
    path, _ = a_file(tmp_path, 7 * MIB)
    seen: list[int] = []
    started = time.monotonic()
    store.put_file(
        "lb/a",
        path,
        metadata={},
        cancel=CancelToken(),
        progress=lambda phase, done, total: seen.append(done),
    )
    took = time.monotonic() - started
    assert seen[-1] == 7 * MIB and seen == sorted(seen)
    # Signing reads the body too over plain HTTP: that must neither count nor wait. The
    # rate limit waited for the bytes that went out, each once (what took the time, not
    # how long: a loaded machine is slower whatever the limit does).
    assert sum(charged) == 7 * MIB, sum(charged)
    assert took >= 7 * MIB / 7e6 * 0.8, took


def test_aborting_an_upload_the_server_no_longer_knows_is_fine(store_at, s3_server, bucket: str):
    store = store_at()
    store.abort_upload("lb/a", "no-such-upload-id")
    client = s3_server.client()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="lb/b")["UploadId"]
    store.abort_upload("lb/b", upload_id)
    assert open_uploads(s3_server, bucket) == []


def test_a_download_comes_out_whole_private_and_new(
    store_at, s3_server, bucket: str, tmp_path: Path
):
    store = store_at()
    data = os.urandom(3 * MIB + 5)
    s3_server.client().put_object(Bucket=bucket, Key="lb/a", Body=data)
    dest = tmp_path / "down"
    store.get_file("lb/a", dest, progress=no_progress, cancel=CancelToken())
    assert dest.read_bytes() == data and stat.S_IMODE(dest.stat().st_mode) == 0o600
    with pytest.raises(OperationFailed, match="already there"):
        store.get_file("lb/a", dest, progress=no_progress, cancel=CancelToken())
    assert dest.read_bytes() == data
    planted = tmp_path / "planted"
    target = tmp_path / "victim"
    target.write_bytes(b"keep me")
    planted.symlink_to(target)
    with pytest.raises(OperationFailed):
        store.get_file("lb/a", planted, progress=no_progress, cancel=CancelToken())
    assert target.read_bytes() == b"keep me", "a link is never followed"


def test_a_download_cut_short_is_refused_and_removed(
    store_at, s3_server, bucket: str, tmp_path: Path, proxy
):
    store = store_at(proxy.url)
    s3_server.client().put_object(Bucket=bucket, Key="lb/a", Body=os.urandom(2 * MIB))
    proxy.faults.truncate_responses = True
    dest = tmp_path / "down"
    with pytest.raises(RemoteError, match="was cut short"):
        store.get_file("lb/a", dest, progress=no_progress, cancel=CancelToken())
    assert proxy.injected["truncate"] >= 1
    assert not dest.exists(), "a short download is never left behind"


class RandomStream:
    """A stream of unknown length (like the encrypting reader), `total` random bytes."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        data = os.urandom(size)
        self.digest.update(data)
        return data


def test_a_stream_holds_only_a_few_parts_in_memory(store_at, s3_server, bucket: str):
    import tracemalloc

    store = store_at(upload_concurrency=2)
    stream = RandomStream(42 * MIB)
    tracemalloc.start()
    try:
        stored = store.put_stream(
            "lb/s",
            stream,
            size_hint=42 * MIB,
            metadata={},
            progress=no_progress,
            cancel=CancelToken(),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.sha256 == stream.digest.hexdigest() and stored.etag.endswith("-9")
    assert server_sha(s3_server, bucket, "lb/s") == stored.sha256
    # Two parts in flight and the next one read: three parts of 5 MiB, and some change.
    assert peak < 4 * 5 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_an_upload_the_server_refused_to_open_leaves_no_mark(s3_server, tmp_path: Path):
    store = make_store(s3_server, "lb-no-such-bucket-here")
    ledger = Ledger()
    path, _ = a_file(tmp_path, 11 * MIB)
    try:
        with pytest.raises(RemoteError, match="does not exist"):
            store.put_file(
                "lb/a", path, metadata={}, progress=no_progress, cancel=CancelToken(), ledger=ledger
            )
    finally:
        store.close()
    assert ledger.events == [("opening", "lb/a"), ("closed", "mark")]
