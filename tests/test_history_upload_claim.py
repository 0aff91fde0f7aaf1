"""Two uploaders of one source's history (`lifeboat upload` while another process's
uploader sends it) never both send one range: the sender claims the pair (source,
remote) from its plan until its copies are recorded. A remote that holds a range twice
(two uploaders of an older Lifeboat) is still read, said once, and the next upload
removes the extra copies. Real processes against the S3 server process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from lifeboat.service import Service
from lifeboat.service.history import history_folder
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.service.test_history_remote import NAME, _capture, _history_objects, _rows
from tests.storage.test_remote import add_remote


def _upload_process(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "upload", NAME, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ranges(s3_server, bucket: str) -> list[tuple[str, int, int, int]]:
    """(base, first, last, level) of every history segment the remote holds."""
    client = s3_server.client()
    found = []
    for key in _history_objects(s3_server, bucket):
        if key.endswith(".json"):
            data = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            found.append(
                (data["base"], data["first_commit_seq"], data["last_commit_seq"], data["level"])
            )
    return sorted(found)


def _log(home: Path) -> str:
    path = home / "logs" / "lifeboat.log"
    return path.read_text() if path.exists() else ""


def test_two_upload_processes_send_each_range_once(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, proxy
):
    service = Service()
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    service.upload(NAME)  # the snapshots (the chain's base) first: only the history races
    _capture(service, db, range(1000, 1004), "a")  # four segments here: one joined batch
    proxy.faults.hold = "/history/"
    first = _upload_process(home)
    second = None
    try:
        wait_until(lambda: proxy.injected["held"] >= 1, timeout=60, what="the first upload")
        second = _upload_process(home)
        # Old code: the second plans from the same catalog and sends its own object of
        # the same commits (held too). Now it waits for the claim, and says so.
        wait_until(
            lambda: proxy.injected["held"] >= 2 or "waiting for another" in _log(home),
            timeout=60,
            what="the second upload to send or to wait",
        )
        assert proxy.injected["held"] == 1, "the second sent while the first held the claim"
    finally:
        proxy.faults.hold = ""
        outs = [p.communicate(timeout=120) for p in (first, second) if p is not None]
    assert [p.returncode for p in (first, second) if p is not None] == [0, 0], outs
    sent = [json.loads(out)["history"]["uploaded"] for out, _ in outs]
    assert len(sent[0]) == 1 and sent[1] == [], sent
    ranges = _ranges(s3_server, bucket)
    assert len(ranges) == 1 and ranges[0][1] == 1, ranges
    assert len(service.workspace.catalog.segment_copies(NAME, "offsite")) == 1


def test_the_uploader_thread_skips_a_round_while_another_holds_the_claim(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str
):
    from lifeboat.core.fsutil import FileLock
    from lifeboat.remote.history_claim import CLAIMS

    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1003), "a")
    lock = FileLock(service.workspace.paths.run_dir / CLAIMS / f"{NAME}@offsite.lock")
    holder = subprocess.Popen(  # another process holds the claim
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(lock.path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lock.path.parent.mkdir(parents=True, exist_ok=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        skipped = service.upload_history(NAME, patience=0)
        assert skipped.claimed_elsewhere and skipped.uploaded == []
        assert _history_objects(s3_server, bucket) == {}
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert len(service.upload_history(NAME, patience=0).uploaded) == 1


def test_a_remote_holding_a_range_twice_is_read_said_once_and_tidied(
    home: Path,
    file_keyring: Path,
    tmp_path: Path,
    s3_server,
    bucket: str,
    caplog,
):
    from lifeboat.remote.history_fetch import remote_segments, same_ranges

    service = Service()
    add_remote(service, s3_server, bucket)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture(service, db, range(1000, 1004), "a")
    assert len(service.upload_history(NAME).uploaded) == 1
    # What two uploaders of an older Lifeboat left: the same commits sent again under
    # another name by one whose catalog did not know the first copy yet.
    catalog = service.workspace.catalog
    catalog.replace_segment_copies("offsite", [])
    assert len(service.upload_history(NAME).uploaded) == 1
    twice = _ranges(s3_server, bucket)
    assert len(twice) == 2 and twice[0] == twice[1], twice
    store = service.workspace.stores.open(service.workspace.config().remote("offsite"))
    try:
        assert same_ranges(remote_segments(store, "lb", NAME)) == 1
    finally:
        store.close()

    # Read from the remote alone (the history here set aside), twice: right, said once.
    folder = history_folder(service.workspace, service.source(NAME))
    aside = tmp_path / "history-aside"
    folder.rename(aside)
    caplog.set_level(logging.WARNING, logger="lifeboat")
    for n in range(2):
        out = tmp_path / f"newest-{n}.db"
        service.restore_point(NAME, datetime.now(UTC), to=out)
        assert _rows(out) == _rows(db)
    said = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "twice" in r.getMessage()
    ]
    assert len(said) == 1 and "holds 1 history segment(s) of notes twice" in said[0], said
    aside.rename(folder)

    # The catalog learns both (catalog rebuild adopts every proven copy); the next
    # upload keeps one and removes the other.
    service.rebuild_catalog()
    assert len(catalog.segment_copies(NAME, "offsite")) == 2
    tidied = service.upload_history(NAME)
    assert tidied.uploaded == [] and len(tidied.deleted) == 1
    assert _ranges(s3_server, bucket) == twice[:1]
    assert len(catalog.segment_copies(NAME, "offsite")) == 1
