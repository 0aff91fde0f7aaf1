"""`lifeboat upload NAME` sends a continuously protected source's history as well (the
uploader thread's path, once), with its base snapshot, and says what it sent; a source
without continuous protection gets its snapshots only. Against the S3 server process."""

from __future__ import annotations

import json
from pathlib import Path

from lifeboat.service import Service
from tests.helpers.databases import make_db
from tests.service.test_history_remote import NAME, _capture, _history_objects
from tests.storage.test_remote import add_remote


def test_upload_sends_the_history_and_says_so(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, cli
):
    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1004), "a")
    assert _history_objects(s3_server, bucket) == {}

    done = cli("upload", NAME)
    assert done.code == 0, done.err
    (base,) = {c.base_id for c in service.workspace.catalog.segment_copies(NAME)}
    assert f"{NAME}: its continuous history: sent 1 history segment(s)" in done.out, done.out
    assert "uploaded 1 snapshot(s)" in done.out, "the chain's base, with the snapshots"
    held = _history_objects(s3_server, bucket)
    assert len([k for k in held if k.endswith(".seg.zst")]) == 1, held
    assert service.snapshot(base).proven_copy_on("offsite") is not None

    again = cli("upload", NAME, "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["history"] == {
        "uploaded": [],
        "bases": [],
        "deleted": [],
        "bytes": 0,
    }, "nothing new: nothing sent"
    _capture(service, db, range(2000, 2002), "b")
    third = cli("upload", NAME, "--json")
    assert len(json.loads(third.out)["history"]["uploaded"]) == 1


def test_upload_of_a_source_without_continuous_protection_sends_snapshots_only(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, cli
):
    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", remote="offsite")
    service.backup(NAME, upload=False)
    done = cli("upload", NAME)
    assert done.code == 0, done.err
    assert "uploaded 1 snapshot(s)" in done.out and "history" not in done.out
    assert _history_objects(s3_server, bucket) == {}
