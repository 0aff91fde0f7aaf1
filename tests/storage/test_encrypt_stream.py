"""Encryption while uploading: the stream, and an encrypted upload that is cancelled or
reads a damaged file (to the memory store, which goes in parts as S3 does: what every
store does with a stream is pinned by test_store_contract.py)."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pyrage
import pytest

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.encrypt_stream import EncryptingReader
from lifeboat.core.encryption import generate_identity
from lifeboat.core.manifest import Manifest, new_snapshot_id, snapshot_stem
from lifeboat.foundation.errors import Cancelled, CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.upload import upload_snapshot
from lifeboat.storage.memory import MemoryStore, MemoryStores


def encrypt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lifeboat-encrypt"]


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 3 * 1024 * 1024 + 17])
def test_the_stream_decrypts_to_the_file_and_reports_both_hashes(tmp_path: Path, size: int):
    identity, recipient = generate_identity()
    plain = tmp_path / "artifact"
    plain.write_bytes(os.urandom(size))
    pieces = []
    with EncryptingReader(plain, [recipient]) as stream:
        reads = iter([7777, 1, 1 << 20, 5 << 20])
        while piece := stream.read(next(reads, 65536)):
            pieces.append(piece)
        sealed = stream.result()
    ciphertext = b"".join(pieces)
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    assert (
        pyrage.decrypt(ciphertext, [pyrage.x25519.Identity.from_str(identity)])
        == plain.read_bytes()
    )
    assert sealed.size == len(ciphertext)
    assert sealed.sha256 == hashlib.sha256(ciphertext).hexdigest()
    assert sealed.plain_sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()
    assert not encrypt_threads()


def test_closing_early_stops_the_encryption_thread(tmp_path: Path):
    _, recipient = generate_identity()
    plain = tmp_path / "artifact"
    plain.write_bytes(os.urandom(12 << 20))  # far more than the queue holds
    with EncryptingReader(plain, [recipient]) as stream:
        assert len(stream.read(100)) == 100
        with pytest.raises(RuntimeError):
            stream.result()
    assert not encrypt_threads()


def artifact_record(folder: Path, size: int, *, sha256: str | None = None) -> SnapshotRecord:
    created = datetime.now(UTC)
    snap_id = new_snapshot_id()
    path = folder / f"{snapshot_stem('notes', created, snap_id)}.sqlite.zst"
    data = os.urandom(size)
    path.write_bytes(data)
    manifest = Manifest(
        id=snap_id,
        source="notes",
        created_at=created,
        artifact=path.name,
        size=size,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        db_size=size,
        page_size=4096,
        page_count=size // 4096,
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
    )
    return SnapshotRecord(manifest, folder, "ok", None, None)


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()


def sealed_store(stores: MemoryStores) -> tuple[MemoryStore, RemoteConfig]:
    remote = RemoteConfig(
        name="offsite",
        provider="minio",
        bucket="lb-sealed",
        endpoint="https://memory.invalid",
        prefix="lb",
        encrypt=True,
        multipart_threshold="5MB",
        part_size="5MB",
    )
    return stores.open(remote), remote


def leftovers(stores: MemoryStores) -> tuple[list[str], list[str]]:
    bucket = stores.bucket("lb-sealed")
    return list(bucket.objects()), list(bucket.uploads().values())


def test_an_encrypted_upload_goes_up_in_parts_and_records_the_ciphertext_hash(
    stores: MemoryStores, tmp_path: Path
):
    identity, recipient = generate_identity()
    record = artifact_record(tmp_path, 23 << 20)
    store, remote = sealed_store(stores)
    try:
        copy = upload_snapshot(
            store, remote, record, no_progress, CancelToken(), recipients=[recipient]
        )
    finally:
        store.close()
    stored = stores.bucket("lb-sealed").object(copy.key)
    assert stored is not None
    body = stored.data
    assert stored.etag.endswith("-5")  # 23 MiB in 5 MiB parts
    assert copy.encrypted and copy.key.endswith(".sqlite.zst.age")
    assert copy.size == len(body) and copy.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.metadata["lifeboat-plain-sha256"] == record.manifest.sha256
    assert (
        pyrage.decrypt(body, [pyrage.x25519.Identity.from_str(identity)])
        == record.path.read_bytes()
    )


def test_a_cancelled_encrypted_upload_leaves_nothing(stores: MemoryStores, tmp_path: Path):
    _, recipient = generate_identity()
    record = artifact_record(tmp_path, 40 << 20)
    store, remote = sealed_store(stores)
    cancel = CancelToken()

    def progress(phase: str, done: int, total: int) -> None:
        if done >= 6 << 20:
            cancel.cancel()

    try:
        with pytest.raises(Cancelled):
            upload_snapshot(store, remote, record, progress, cancel, recipients=[recipient])
    finally:
        store.close()
    assert leftovers(stores) == ([], [])
    assert not encrypt_threads()
    assert record.path.stat().st_size == 40 << 20


def test_a_file_damaged_on_disk_is_not_kept_encrypted_on_the_remote(
    stores: MemoryStores, tmp_path: Path
):
    _, recipient = generate_identity()
    record = artifact_record(tmp_path, 7 << 20, sha256="0" * 64)
    store, remote = sealed_store(stores)
    try:
        with pytest.raises(CorruptSnapshot, match="damaged on disk"):
            upload_snapshot(
                store, remote, record, no_progress, CancelToken(), recipients=[recipient]
            )
    finally:
        store.close()
    assert leftovers(stores) == ([], [])
