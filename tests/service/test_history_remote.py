"""Continuous history on a remote, against the S3 server process: segments go up as
proven copies (sealed with age when the remote encrypts), batched, with their base; a
new machine restores a point from the remote alone; replaced segments leave the remote
only once their replacement is proven there."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import keyring.core
import pytest

from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.history.compaction import compact_level0
from lifeboat.service import Service
from lifeboat.service.history import chains_of, history_folder
from tests.helpers.databases import make_db
from tests.storage.test_remote import add_remote, objects

NAME = "notes"
PASSPHRASE = "correct horse battery staple"


def _capture(service: Service, db: Path, rows: range, marker: str) -> list[tuple[datetime, int]]:
    """Commit one row per commit while a follower captures each: (time, row count)."""
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    marks = []
    try:
        for row in rows:
            writer.execute(
                "insert into items(id, name, payload) values (?, ?, x'00')", (row, marker)
            )
            follower.poll()
            count = writer.execute("select count(*) from items").fetchone()[0]
            marks.append((datetime.now(UTC), count))
        follower.close()
    finally:
        writer.close()
    return marks


def _history_objects(s3_server, bucket: str) -> dict[str, int]:
    return {k: v for k, v in objects(s3_server, bucket).items() if "/history/" in k}


def _rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("select count(*) from items").fetchone()[0])
    finally:
        conn.close()


def _first_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server, bucket: str, encrypt: bool
) -> tuple[list[tuple[datetime, int]], str, Path]:
    """Machine 1 (its own home and keyring): captures 2 x 6 commits, sending its history
    after each 6. Returns the marks, the marker string written in every row, and the key
    file (encrypted remote)."""
    machine = tmp_path / "machine-1"
    marker = "MARK" + secrets.token_hex(12)
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
        marks = _capture(first, db, range(1000, 1006), marker)
        sent = first.upload_history(NAME)
        assert len(sent.uploaded) == 1, "the 6 level-0 segments went up as one batch"
        assert sent.bases, "the chain's base went up first"
        assert first.upload_history(NAME).uploaded == [], "nothing new: nothing sent"
        marks += _capture(first, db, range(2000, 2006), marker)
        assert len(first.upload_history(NAME).uploaded) == 1
        copies = first.workspace.catalog.segment_copies(NAME, "offsite")
        assert [c.encrypted for c in copies] == [encrypt, encrypt]
        status = next(s for s in first.status().sources if s.name == NAME)
        assert status.remote_history_until is not None
        assert abs((status.remote_history_until - marks[-1][0]).total_seconds()) < 2
    keyring.core.init_backend()
    return marks, marker, key_file


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "sealed"])
def test_a_new_machine_restores_a_point_from_the_remote_alone(
    home: Path,
    file_keyring: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server,
    bucket: str,
    encrypt: bool,
):
    marks, marker, key_file = _first_machine(tmp_path, monkeypatch, s3_server, bucket, encrypt)
    held = _history_objects(s3_server, bucket)
    assert len([k for k in held if k.endswith(".json")]) == 2
    client = s3_server.client()
    for key in held:
        if key.endswith(".json"):
            continue
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert key.endswith(".seg.zst.age") == encrypt
        # THE RULE: a sealed object holds no plaintext page (the plain one shows it does
        # hold the marker, so the check can fail).
        assert (marker.encode() in body) is not encrypt, key

    # Machine 2: a new home and keyring; the remote, the key, and a catalog rebuild.
    second = Service()
    if encrypt:
        second.import_key(key_file, PASSPHRASE)
    add_remote(second, s3_server, bucket, encrypt=encrypt)
    (tmp_path / "here").mkdir()
    stand_in = make_db(tmp_path / "here" / "notes.db", rows=1)
    second.add_source(stand_in, name=NAME, schedule="manual", continuous=True, remote="offsite")
    second.rebuild_catalog()
    adopted = second.workspace.catalog.segment_copies(NAME, "offsite")
    assert sorted(c.key for c in adopted) == sorted(k for k in held if not k.endswith(".json"))
    assert all(c.encrypted is encrypt for c in adopted)
    assert not history_folder(second.workspace, second.source(NAME), make=False).exists()
    for index in (3, 8, len(marks) - 1):
        at, rows = marks[index]
        out = tmp_path / f"point-{index}.db"
        result = second.restore_point(NAME, at, to=out)
        assert result.point is not None
        assert _rows(out) == rows, f"point {index}"
    scratch = home / "tmp"
    assert not [p for p in scratch.rglob("*") if p.is_file()], "nothing fetched is left"


def test_replaced_segments_leave_the_remote_only_after_their_replacement_is_proven(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, proxy, cli
):
    service = Service()
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1004), "a")
    service.upload_history(NAME)
    _capture(service, db, range(2000, 2004), "b")
    service.upload_history(NAME)
    before = _history_objects(s3_server, bucket)
    assert len(before) == 4  # two batches, each with its manifest
    for command in (("timeline", NAME), ("status",)):
        said = cli(*command)
        assert "remote offsite holds its history up to" in said.out, said.out
        assert "(all of it)" in said.out
    held = json.loads(cli("timeline", NAME, "--json").out)["remote_history_until"]
    assert held is not None

    # Compaction here joins every level-0 segment into one level-1 segment, which holds
    # the commits of both batches: not sent (the remote holds all of them) ...
    (chain,) = chains_of(service.workspace, NAME)
    folder = history_folder(service.workspace, service.source(NAME))
    compact_level0(folder, NAME, chain.segments, service.workspace.run)
    assert service.upload_history(NAME).uploaded == []
    assert _history_objects(s3_server, bucket) == before
    # Commits not sent yet, then compaction joins them with the sent ones: only the
    # commits the remote lacks go up (its tail), following the batches' end state.
    _capture(service, db, range(3000, 3003), "c")
    (chain,) = chains_of(service.workspace, NAME)
    compact_level0(folder, NAME, [s for s in chain.segments if s.level == 0], service.workspace.run)
    (chain,) = chains_of(service.workspace, NAME)
    compact_level0(folder, NAME, chain.segments, service.workspace.run)
    assert service.upload_history(NAME).uploaded
    copies = service.workspace.catalog.segment_copies(NAME)
    (whole,) = chains_of(service.workspace, NAME)[0].segments
    assert len(copies) == 3 and copies[0].first_seq == 1, "two batches and a tail"
    assert copies[1].first_seq == copies[0].last_seq + 1
    assert copies[2].first_seq == copies[1].last_seq + 1 and copies[2].last_seq == whole.last_seq
    assert copies[2].level == 1
    # The remote's batches and tail make one chain: its newest point restores from them.
    aside = tmp_path / "history-aside"
    folder.rename(aside)
    out = tmp_path / "newest.db"
    service.restore_point(NAME, datetime.now(UTC), to=out)
    assert _rows(out) == _rows(db)
    aside.rename(folder)
    before = _history_objects(s3_server, bucket)

    # ... until thinning makes a higher level: it goes up, and only once it is proven
    # are the two batches deleted there. Bytes flipped in transit: nothing counts and
    # nothing is deleted.
    from lifeboat.service.history_retention import thin_history

    later_us = int((datetime.now(UTC).timestamp() + 3 * 86400) * 1e6)
    assert thin_history(service.workspace, NAME, later_us).commits_after
    proxy.faults.corrupt_every = 1
    with pytest.raises(Exception, match=r"(?i)match|differ|bad digest|md5|checksum"):
        service.upload_history(NAME)
    during = _history_objects(s3_server, bucket)
    assert {k: during[k] for k in before} == before, "nothing was deleted"
    assert len(service.workspace.catalog.segment_copies(NAME)) == 3, "nothing counted"
    proxy.faults.reset()
    sent = service.upload_history(NAME)
    assert len(sent.uploaded) == 1 and len(sent.deleted) == 3
    after = _history_objects(s3_server, bucket)
    assert len(after) == 2 and not set(after) & set(before)


def test_the_remote_keeps_the_base_its_newest_history_starts_from(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
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
    base = service.upload_history(NAME).bases[0]
    change = sqlite3.connect(db, isolation_level=None)
    change.execute("insert into items(id, name, payload) values (5000, 'later', x'00')")
    change.close()
    later = service.backup(NAME, full=True, upload=False)
    result = service.upload(NAME)
    assert later.id in result.uploaded and base not in result.deleted
    assert service.snapshot(base).proven_copy_on("offsite") is not None, "its history needs it"
    out = tmp_path / "point.db"
    (history_folder(service.workspace, service.source(NAME))).rename(tmp_path / "aside")
    service.restore_point(NAME, datetime.now(UTC), to=out)
    assert _rows(out) == 23


def test_sealed_history_with_bytes_flipped_in_transit_never_counts(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, proxy
):
    import hashlib

    import pyrage

    from lifeboat.core.encryption import stored_identities

    service = Service()
    service.init_key()
    add_remote(service, s3_server, bucket, endpoint=proxy.url, encrypt=True)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1004), "sealed")
    service.upload_history(NAME)  # the base and the first batch
    _capture(service, db, range(2000, 2004), "sealed")
    proxy.faults.corrupt_every = 1
    with pytest.raises(Exception, match=r"(?i)other bytes|failed the request|match"):
        service.upload_history(NAME)
    assert len(service.workspace.catalog.segment_copies(NAME)) == 1, "nothing more counts"
    proxy.faults.reset()
    assert len(service.upload_history(NAME).uploaded) == 1
    client = s3_server.client()
    identities = [pyrage.x25519.Identity.from_str(i) for i in stored_identities(service.secrets)]
    for copy in service.workspace.catalog.segment_copies(NAME):
        body = client.get_object(Bucket=bucket, Key=copy.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == copy.sha256
        manifest = json.loads(
            client.get_object(Bucket=bucket, Key=copy.manifest_key)["Body"].read()
        )
        plain = pyrage.decrypt(body, identities)
        assert hashlib.sha256(plain).hexdigest() == manifest["sha256"]
        assert plain.startswith(b"\x28\xb5\x2f\xfd")  # a zstd frame: the segment file


def test_a_catalog_rebuild_adopts_only_the_history_objects_a_proven_upload_wrote(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1003), "a")
    service.upload_history(NAME)
    _capture(service, db, range(2000, 2003), "b")
    service.upload_history(NAME)
    first, second = service.workspace.catalog.segment_copies(NAME)
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key=second.key, Body=b"not the segment")
    service.rebuild_catalog()
    assert service.workspace.catalog.segment_copies(NAME) == [
        SegmentCopy(
            **{**first.__dict__, "uploaded_at": c.uploaded_at, "last_time_us": c.last_time_us}
        )
        for c in service.workspace.catalog.segment_copies(NAME)
    ], "the replaced object is not counted"
    assert second.key in _history_objects(s3_server, bucket), "nor deleted"
    assert [c.name for c in service.workspace.catalog.segment_copies(NAME)] == [first.name]
    assert len(service.upload_history(NAME).uploaded) == 1, "sent again"
    assert len(service.workspace.catalog.segment_copies(NAME)) == 2


def test_a_history_kept_sealed_here_goes_up_sealed_and_restores_from_the_remote(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    service = Service()
    service.init_key()
    add_remote(service, s3_server, bucket, encrypt=True)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(
        db, name=NAME, schedule="manual", continuous=True, remote="offsite", encrypt_local=True
    )
    marker = "MARK" + secrets.token_hex(12)
    marks = _capture(service, db, range(1000, 1004), marker)  # sealed level-0: a batch
    assert len(service.upload_history(NAME).uploaded) == 1
    folder = history_folder(service.workspace, service.source(NAME))
    marks += _capture(service, db, range(2000, 2001), marker)  # one sealed segment alone
    assert len(service.upload_history(NAME).uploaded) == 1
    held = _history_objects(s3_server, bucket)
    client = s3_server.client()
    for key in held:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert marker.encode() not in body, key
        assert key.endswith((".seg.zst.age", ".json")) and ".age.age" not in key, key
    assert not [p for p in (home / "tmp").rglob("*") if p.is_file()], "no plain copy left"
    aside = tmp_path / "history-aside"
    folder.rename(aside)
    out = tmp_path / "newest.db"
    service.restore_point(NAME, marks[-1][0], to=out)
    assert _rows(out) == marks[-1][1]


def test_a_history_kept_sealed_here_goes_up_sealed_to_a_remote_that_does_not_encrypt(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    """As a sealed snapshot goes up as it is whatever the remote's setting, a history
    kept sealed here never reaches a remote in plain (joined or alone)."""
    service = Service()
    service.init_key()
    add_remote(service, s3_server, bucket, encrypt=False)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(
        db, name=NAME, schedule="manual", continuous=True, remote="offsite", encrypt_local=True
    )
    marker = "MARK" + secrets.token_hex(12)
    marks = _capture(service, db, range(1000, 1004), marker)  # sealed level-0: a batch
    assert len(service.upload_history(NAME).uploaded) == 1
    folder = history_folder(service.workspace, service.source(NAME))
    marks += _capture(service, db, range(2000, 2001), marker)  # one sealed segment alone
    assert len(service.upload_history(NAME).uploaded) == 1
    client = s3_server.client()
    segments = [k for k in _history_objects(s3_server, bucket) if not k.endswith(".json")]
    assert len(segments) == 2
    for key in segments:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body.startswith(b"age-encryption.org/v1"), key
        assert key.endswith(".seg.zst.age"), key
    folder.rename(tmp_path / "history-aside")
    out = tmp_path / "newest.db"
    service.restore_point(NAME, marks[-1][0], to=out)
    assert _rows(out) == marks[-1][1]
