"""Upload benchmark: Lifeboat's upload of a snapshot against a plain boto3 `upload_file`.

Starts a local S3 server process (moto's), makes incompressible artifacts of each
--sizes-mb, then for --rounds rounds uploads each with plain `client.upload_file`
(boto3's defaults) and with Lifeboat's upload path (hash check, multipart transfer,
HEAD confirmation, manifest), alternating, and reports the throughputs and their ratio.

Each kind of upload also runs once in a process of its own, for its peak anonymous RSS.
It also uploads each with encryption on (age, to a fresh key; encrypted while it goes
up) and times the encryption step alone (the same stream, read and dropped).

Usage: python bench/upload_bench.py [--sizes-mb 256 1024] [--rounds 2]
Goals: Lifeboat >= 0.8x the plain upload's throughput (issue 6); encrypted upload >=
0.85x the unencrypted one (issue 11).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.s3server import S3Server, start_s3_server

from bench.common import OUT, median, report, run_timed
from lifeboat.core.catalog import SnapshotRecord
from lifeboat.core.config import RemoteConfig
from lifeboat.core.encrypt_stream import EncryptingReader
from lifeboat.core.encryption import generate_identity
from lifeboat.core.manifest import Manifest, new_snapshot_id, snapshot_stem
from lifeboat.core.secrets import S3Credentials
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.upload import upload_snapshot
from lifeboat.storage.s3 import S3Store


def make_record(folder: Path, size: int) -> SnapshotRecord:
    created = datetime.now(UTC)
    snap_id = new_snapshot_id()
    stem = snapshot_stem("bench", created, snap_id)
    path = folder / f"{stem}.sqlite.zst"
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            digest.update(block)
            fh.write(block)
            left -= len(block)
    return record_of(path, digest.hexdigest(), created, snap_id)


def record_of(path: Path, sha256: str, created: datetime, snap_id: str) -> SnapshotRecord:
    size = path.stat().st_size
    manifest = Manifest(
        id=snap_id,
        source="bench",
        created_at=created,
        artifact=path.name,
        size=size,
        sha256=sha256,
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
    return SnapshotRecord(manifest, path.parent, "ok", None, None)


def child_upload(spec: dict[str, str]) -> None:
    """One upload in a process of its own (--child), so its peak RSS can be read."""
    record = record_of(Path(spec["path"]), spec["sha256"], datetime.now(UTC), new_snapshot_id())
    remote = RemoteConfig(
        name="bench",
        provider="minio",
        bucket="bench-bucket",
        endpoint=spec["endpoint"],
        prefix="rss",
        encrypt=spec["kind"] == "encrypted",
    )
    store = S3Store(remote, S3Credentials(spec["key"], spec["secret"]))
    copy = upload_snapshot(
        store, remote, record, no_progress, CancelToken(), recipients=[spec["recipient"]]
    )
    store.delete(copy.manifest_key)
    store.delete(copy.key)


def upload_rss_mb(server: S3Server, record: SnapshotRecord, recipient: str, kind: str) -> float:
    spec = {
        "path": str(record.path),
        "sha256": record.manifest.sha256,
        "kind": kind,
        "endpoint": server.endpoint,
        "key": server.access_key_id,
        "secret": server.secret_access_key,
        "recipient": recipient,
    }
    # RssAnon sampled (ru_maxrss of a child starts from the parent's size at fork).
    memory: dict[str, int] = {}
    run_timed([sys.executable, __file__, "--child", json.dumps(spec)], memory=memory)
    return round(memory["anon_kb"] / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_upload(json.loads(args.child))
        return
    work = OUT / "upload"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = start_s3_server()
    try:
        client = server.client()
        client.create_bucket(Bucket="bench-bucket")
        remote = RemoteConfig(
            name="bench",
            provider="minio",
            bucket="bench-bucket",
            endpoint=server.endpoint,
            prefix="lb",
        )
        sealed_remote = RemoteConfig(
            name="bench",
            provider="minio",
            bucket="bench-bucket",
            endpoint=server.endpoint,
            prefix="lb",
            encrypt=True,
        )
        _, recipient = generate_identity()
        creds = S3Credentials(server.access_key_id, server.secret_access_key)
        results: dict[str, object] = {}
        for size_mb in args.sizes_mb:
            record = make_record(work, size_mb << 20)
            plain: list[float] = []
            ours: list[float] = []
            sealed: list[float] = []
            encrypt_only: list[float] = []
            for round_no in range(args.rounds):
                key = f"plain/{record.manifest.artifact}"
                started = time.perf_counter()
                client.upload_file(str(record.path), "bench-bucket", key)
                plain.append(time.perf_counter() - started)
                client.delete_object(Bucket="bench-bucket", Key=key)
                for target, remote_config, extra in (
                    (ours, remote, {}),
                    (sealed, sealed_remote, {"recipients": [recipient]}),
                ):
                    store = S3Store(remote_config, creds)
                    started = time.perf_counter()
                    copy = upload_snapshot(
                        store, remote_config, record, no_progress, CancelToken(), **extra
                    )
                    target.append(time.perf_counter() - started)
                    store.delete(copy.manifest_key)
                    store.delete(copy.key)
                    store.close()
                started = time.perf_counter()
                with EncryptingReader(record.path, [recipient]) as stream:
                    while stream.read(16 << 20):
                        pass
                encrypt_only.append(time.perf_counter() - started)
                print(
                    f"{size_mb} MiB round {round_no + 1}: plain {plain[-1]:.2f} s, "
                    f"lifeboat {ours[-1]:.2f} s, encrypted {sealed[-1]:.2f} s, "
                    f"encryption alone {encrypt_only[-1]:.2f} s",
                    flush=True,
                )
            mb = size_mb * 1.048576
            results[f"{size_mb}MiB"] = {
                "plain_seconds": [round(x, 3) for x in plain],
                "lifeboat_seconds": [round(x, 3) for x in ours],
                "plain_MBps": round(mb / median(plain), 1),
                "lifeboat_MBps": round(mb / median(ours), 1),
                "throughput_ratio": round(median(plain) / median(ours), 3),
                "encrypted_seconds": [round(x, 3) for x in sealed],
                "encrypted_MBps": round(mb / median(sealed), 1),
                "encrypted_over_unencrypted": round(median(ours) / median(sealed), 3),
                "encryption_alone_MBps": round(mb / median(encrypt_only), 1),
                "peak_anon_rss_MB": {
                    kind: upload_rss_mb(server, record, recipient, kind)
                    for kind in ("unencrypted", "encrypted")
                },
            }
            record.path.unlink()
        report(
            "upload_bench",
            {
                "server": "moto_server on 127.0.0.1",
                "results": results,
                "goals": "throughput_ratio >= 0.8, encrypted_over_unencrypted >= 0.85",
            },
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
