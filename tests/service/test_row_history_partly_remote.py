"""Row history when this computer keeps only part of a source's continuous history and
its remote (the S3 server process) holds the rest: `lifeboat history NAME --table T
--key K` adds the remote's part, and says which points came from there."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from lifeboat.service import Service
from lifeboat.service.history import chains_of
from tests.helpers.databases import make_db
from tests.helpers.workfiles import files_under
from tests.storage.test_remote import add_remote

NAME = "notes"


def _commit(service: Service, db: Path, *statements: str) -> None:
    """Each statement one commit, each captured by the service's own follower."""
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for sql in statements:
            writer.execute(sql)
            follower.poll()
    finally:
        writer.close()
        follower.close()


def _new_chain(service: Service, db: Path, tmp_path: Path, *statements: str) -> None:
    """The database file replaced (as a restore does): the follower starts a new chain
    on a new base, and captures `statements` in it."""
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.execute("vacuum into ?", (str(tmp_path / "new.db"),))
    conn.close()
    os.replace(tmp_path / "new.db", db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for sql in statements:  # the connection stays open: the WAL stays
            conn.execute(sql)
            follower.poll()
    finally:
        conn.close()
        follower.close()


def test_history_adds_the_remotes_part_and_says_so(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, cli
):
    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(
        db, name=NAME, schedule="manual", continuous=True, remote="offsite", keep="last=5"
    )
    _commit(
        service,
        db,
        "update items set name = 'older one' where id = 7",
        "update items set name = 'older two' where id = 7",
    )
    assert service.upload_history(NAME).uploaded
    (old,) = chains_of(service.workspace, NAME)
    _new_chain(
        service,
        db,
        tmp_path,
        "update items set name = 'in the base' where id = 8",  # the new chain's base
        "update items set name = 'newer' where id = 7",  # its first commit
    )
    assert service.upload_history(NAME).uploaded
    # This computer lets the older chain's commits go (its retention keeps less than
    # the remote's); the remote still holds them, and the catalog knows it.
    (gone,) = [c for c in chains_of(service.workspace, NAME) if c.base_id == old.base_id]
    for segment in gone.segments:
        segment.path.unlink()
    kept = [c.base_id for c in chains_of(service.workspace, NAME) if c.segments]
    assert kept and old.base_id not in kept

    done = cli("history", NAME, "--table", "items", "--key", "7", "--json")
    assert done.code == 0, done.err
    versions = json.loads(done.out)["versions"]
    names = [(v["change"], v["values"]["name"] if v["values"] else None) for v in versions]
    assert ("changed", "older one") in names and ("changed", "older two") in names, names
    assert names[-1] == ("changed", "newer"), names
    by_name = {v["values"]["name"]: v for v in versions if v["values"]}
    assert by_name["older one"]["point"] == "commit"
    assert by_name["older one"]["remote"] == "offsite", "read from the remote: said so"
    assert by_name["older two"]["remote"] == "offsite"
    assert by_name["newer"]["remote"] is None, "kept here"
    text = cli("history", NAME, "--table", "items", "--key", "7")
    assert text.code == 0, text.err
    assert "commit (on offsite)" in text.out, text.out
    assert "read from that remote" in text.out
    temp = service.workspace.temp_dir(service.workspace.config())
    assert not files_under(temp), "nothing fetched is left"
