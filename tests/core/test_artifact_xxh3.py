"""An artifact's bytes proven still as written by the xxh3-128 recorded beside its SHA-256
when it was written (core/hashing.still_as_written; docs/SAFETY.md, "The safety
snapshot"): the cheaper proof is taken only when bound to the very SHA-256 it stands
for, and whatever it says against the bytes, the SHA-256 decides."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import xxhash

from lifeboat.core.hashing import ARTIFACT_XXH3, still_as_written, xxh3_file, xxh3_record
from lifeboat.jobs.last_backup import intact_here, newest_intact
from lifeboat.service import Service
from tests.helpers.databases import make_db


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "artifact"
    path.write_bytes(data)
    return path


def test_xxh3_file_is_the_xxh3_128_of_every_byte(tmp_path: Path):
    data = bytes(range(256)) * 9000  # over one read block
    assert xxh3_file(_file(tmp_path, data)) == xxhash.xxh3_128(data).hexdigest()


GOOD = b"artifact bytes " * 1000
SHA = hashlib.sha256(GOOD).hexdigest()
XXH = xxhash.xxh3_128(GOOD).hexdigest()
OTHER_SHA = hashlib.sha256(b"other").hexdigest()


@pytest.mark.parametrize(
    ("content", "expected_sha", "extra", "intact"),
    [
        (GOOD, SHA, {ARTIFACT_XXH3: xxh3_record(SHA, XXH)}, True),
        # one byte changed: neither hash holds
        (b"X" + GOOD[1:], SHA, {ARTIFACT_XXH3: xxh3_record(SHA, XXH)}, False),
        # an older artifact records none: its SHA-256 proves it
        (GOOD, SHA, {}, True),
        (b"X" + GOOD[1:], SHA, {}, False),
        # a recorded xxh3 that does not match is not damage: the SHA-256 decides
        (GOOD, SHA, {ARTIFACT_XXH3: xxh3_record(SHA, "0" * 32)}, True),
        # recorded with another SHA-256 (the manifest was rewritten for other bytes):
        # not taken, even though it matches these bytes
        (GOOD, OTHER_SHA, {ARTIFACT_XXH3: xxh3_record(OTHER_SHA + "x", XXH)}, False),
        (GOOD, OTHER_SHA, {ARTIFACT_XXH3: xxh3_record(SHA, XXH)}, False),
        # not a record of ours
        (GOOD, SHA, {ARTIFACT_XXH3: "nonsense"}, True),
        (b"X" + GOOD[1:], SHA, {ARTIFACT_XXH3: {"sha256": SHA, "xxh3_128": 5}}, False),
    ],
)
def test_still_as_written(
    tmp_path: Path, content: bytes, expected_sha: str, extra: dict[str, object], intact: bool
):
    assert still_as_written(_file(tmp_path, content), expected_sha, extra) is intact


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def test_a_snapshot_records_its_artifacts_xxh3_bound_to_its_sha256(service: Service, tmp_path):
    db = make_db(tmp_path / "notes.db", rows=500)
    service.add_source(db, schedule="manual")
    full = service.backup("notes", upload=False)
    recorded = full.manifest.extra[ARTIFACT_XXH3]
    path = service.snapshot(full.id).path
    assert recorded == {"sha256": full.manifest.sha256, "xxh3_128": xxh3_file(path)}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == full.manifest.sha256


def test_a_snapshot_damaged_since_is_not_proven_intact(service: Service, tmp_path: Path):
    # What a safety snapshot stands on (jobs/last_backup.newest_intact): one byte of the
    # artifact changed and its recorded xxh3 no longer holds, nor does its SHA-256.
    db = make_db(tmp_path / "notes.db", rows=2000)
    service.add_source(db, schedule="manual")
    full = service.backup("notes", upload=False)
    workspace = service.workspace
    newest = newest_intact(workspace, "notes")
    assert newest is not None and newest.id == full.id
    artifact = service.snapshot(full.id).path
    with open(artifact, "r+b") as fh:
        fh.seek(artifact.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0x01]))
    assert newest_intact(workspace, "notes") is None
    hashed: dict[Path, str] = {}
    assert not intact_here(workspace, newest, hashed) and not hashed
