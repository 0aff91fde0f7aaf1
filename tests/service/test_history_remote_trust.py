"""Remote history is deleted only on proof (remote/history_plans.orphaned_copies): a
chain's copies leave the remote as orphaned only when the remote's own listing shows
its base is gone, never because this machine's catalog does not know (or cannot prove)
that base yet. Against the S3 server process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lifeboat.service import Service
from tests.helpers.databases import make_db
from tests.service.test_history_remote import NAME, _capture, _first_machine, _history_objects
from tests.storage.test_remote import add_remote


def test_a_new_machine_never_deletes_remote_history_whose_base_its_catalog_does_not_know(
    home: Path,
    file_keyring: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server,
    bucket: str,
):
    _first_machine(tmp_path, monkeypatch, s3_server, bucket, encrypt=False)
    first_chain = _history_objects(s3_server, bucket)
    assert len(first_chain) == 4, "two segments of machine 1's chain, each with its manifest"
    client = s3_server.client()
    # Machine 1 has a newer Lifeboat by now: its base's manifest is in a format this one
    # cannot read, so a catalog rebuild here adopts the history but not its base.
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    (base_manifest,) = [
        o["Key"] for o in listed if o["Key"].endswith(".json") and "/history/" not in o["Key"]
    ]
    data = json.loads(client.get_object(Bucket=bucket, Key=base_manifest)["Body"].read())
    client.put_object(
        Bucket=bucket, Key=base_manifest, Body=json.dumps({**data, "format": 99}).encode()
    )

    second = Service()
    add_remote(second, s3_server, bucket)
    (tmp_path / "here").mkdir()
    db = make_db(tmp_path / "here" / "notes.db", rows=5)
    second.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    second.rebuild_catalog()
    assert len(second.workspace.catalog.segment_copies(NAME, "offsite")) == 2
    _capture(second, db, range(3000, 3003), "second")  # its own, newer chain
    sent = second.upload_history(NAME)
    assert sent.uploaded and sent.bases, "the new chain went up with its base"

    # THE RULE: machine 1's history is not this machine's to delete on the ground that
    # its catalog does not know the base: the remote still holds that base.
    assert sent.deleted == []
    after = _history_objects(s3_server, bucket)
    assert set(first_chain) <= set(after), "machine 1's history is all still there"
    assert second.upload_history(NAME).deleted == [], "nor on a later round"


def test_a_chain_whose_base_the_remote_pruned_still_leaves_it(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    """The other side of the rule: once the remote's retention pruned an older chain's
    base (the listing shows no object of it), that chain's copies restore nothing and go."""
    import sqlite3

    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(
        db,
        name=NAME,
        schedule="manual",
        continuous=True,
        remote="offsite",
        keep="last=5",
        remote_keep="last=1",
    )
    _capture(service, db, range(1000, 1003), "a")
    old_base = service.upload_history(NAME).bases[0]
    # the database file replaced (as a restore does): the follower starts a new chain
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.execute("vacuum into ?", (str(tmp_path / "new.db"),))
    conn.close()
    os.replace(tmp_path / "new.db", db)
    conn = sqlite3.connect(db, isolation_level=None)
    for row in (2000, 2001):  # the connection stays open: the WAL stays
        conn.execute("insert into items(id, name, payload) values (?, 'b', x'00')", (row,))
        follower.poll()
    conn.close()
    follower.close()
    sent = service.upload_history(NAME)
    assert sent.bases and old_base not in sent.bases
    assert sent.deleted == [], "the old base is still there: its chain stays"
    result = service.upload(NAME)  # the remote's retention: last=1, the new chain is live
    assert old_base in result.deleted
    before = service.workspace.catalog.segment_copies(NAME)
    sent = service.upload_history(NAME)
    old_copies = {c.key for c in before if c.base_id == old_base}
    assert old_copies and len(old_copies) < len(before)
    assert sorted(sent.deleted) == sorted(c.rsplit("/", 1)[1] for c in old_copies), (
        "the pruned base's chain left the remote"
    )
    assert not old_copies & set(_history_objects(s3_server, bucket))
