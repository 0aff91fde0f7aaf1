"""A new machine whose source's continuous history is on the remote only (the S3 server
process): `history` finds every version of a row across the remote's commits, and the
rows of a point of that history come back into the live database (merge restore), with
nothing fetched or decrypted left behind."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import keyring.core
import pytest

from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.core.history.row_versions import RowChange
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.service import Service
from lifeboat.service.history import history_folder
from tests.helpers.databases import make_db, table_rows
from tests.storage.test_remote import add_remote

NAME = "notes"
PASSPHRASE = "correct horse battery staple"


def _first_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server, bucket: str, encrypt: bool
) -> tuple[datetime, Path]:
    """Machine 1: row 1000 is created, changed, then deleted with rows 1-5, each commit
    captured by the continuous history, which goes to the remote. Returns a moment
    between the change and the deletions, and the key file (encrypted remote)."""
    machine = tmp_path / "machine-1"
    key_file = machine / "key.age"
    with monkeypatch.context() as env:
        env.setenv("LIFEBOAT_HOME", str(machine / "home"))
        env.setenv("XDG_DATA_HOME", str(machine / "xdg-data"))
        keyring.core.init_backend()
        first = Service()
        if encrypt:
            first.init_key()
            first.export_key(key_file, PASSPHRASE)
        add_remote(first, s3_server, bucket, encrypt=encrypt)
        db = make_db(machine / "notes.db", rows=20)
        first.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
        follower = first.open_follower(NAME, compact_every_s=3600, write_every_s=0)
        follower.start()
        writer = sqlite3.connect(db, isolation_level=None)
        try:
            for sql in (
                "insert into items(id, name, payload) values (1000, 'first', x'00')",
                "update items set name = 'second' where id = 1000",
            ):
                writer.execute(sql)
                follower.poll()
            middle = datetime.now(UTC)
            writer.execute("delete from items where id = 1000 or id <= 5")
            follower.poll()
            follower.close()
        finally:
            writer.close()
        assert first.upload_history(NAME).uploaded
    keyring.core.init_backend()
    return middle, key_file


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "sealed"])
def test_a_new_machine_follows_a_row_and_brings_rows_back_from_the_remote_history(
    home: Path,
    file_keyring: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server,
    bucket: str,
    encrypt: bool,
):
    middle, key_file = _first_machine(tmp_path, monkeypatch, s3_server, bucket, encrypt)
    second = Service()
    if encrypt:
        second.import_key(key_file, PASSPHRASE)
    add_remote(second, s3_server, bucket, encrypt=encrypt)
    (tmp_path / "here").mkdir()
    live = make_db(tmp_path / "here" / "notes.db", rows=20)
    second.add_source(live, name=NAME, schedule="manual", continuous=True, remote="offsite")
    second.rebuild_catalog()
    assert not history_folder(second.workspace, second.source(NAME), make=False).exists()

    history = second.row_history(NAME, "items", KeySpec(rowid=1000))
    changes = [(v.change, (v.values or {}).get("name")) for v in history.versions]
    assert changes == [
        (RowChange.CREATED, "first"),
        (RowChange.CHANGED, "second"),
        (RowChange.DELETED, None),
    ], changes

    _run(live, "delete from items where id <= 5")
    outcome = second.merge_restore(NAME, MergeRequest("items"), at=middle)
    assert "commit" in outcome.past, "a point of the history, not only its base"
    assert outcome.inserted == 6  # rows 1-5 and row 1000 as it was then
    names = dict((r[0], r[1]) for r in table_rows(live))
    assert names[1000] == "second" and all(i in names for i in range(1, 6))
    scratch = home / "tmp"
    assert not [p for p in scratch.rglob("*") if p.is_file()], "nothing fetched is left"


def _run(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(sql)
    conn.close()
