"""Sending continuous history killed with SIGKILL in the middle of a multipart upload:
nothing of it counts, nothing outlives the next start (the open upload is aborted on the
server, the joined batch in the scratch space is swept), and the next round sends it
whole and proven."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.service import Service
from tests.adversarial.test_remote_integrity import on_server, open_on_server
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.storage.test_remote import add_remote

NAME = "notes"
SEND = "from lifeboat.service import Service; Service().upload_history('notes')"


def _capture_big(service: Service, db: Path, commits: int) -> None:
    """Commits of 1 MiB of random bytes each (they do not compress): a ~`commits` MiB
    batch, sent in 5 MiB parts."""
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for row in range(1000, 1000 + commits):
            writer.execute(
                "insert into items(id, name, payload) values (?, 'big', randomblob(1048576))",
                (row,),
            )
            follower.poll()
        follower.close()
    finally:
        writer.close()


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_history_upload_killed_mid_way_leaves_nothing_that_outlives_the_next_start(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, proxy
):
    service = Service()
    add_remote(
        service, s3_server, bucket, endpoint=proxy.url, multipart_threshold="5MiB", part_size="5MiB"
    )
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    _capture_big(service, db, 7)
    proxy.faults.hold = "/history/"
    child = subprocess.Popen([sys.executable, "-c", SEND], env=os.environ.copy())
    try:
        wait_until(lambda: proxy.injected["held"] >= 1, "a part held on its way", process=child)
        wait_until(lambda: service.workspace.catalog.open_uploads("offsite"), "the ledger")
        assert _files_under(home / "tmp"), "the joined batch is in the child's scratch space"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    proxy.faults.hold = ""
    assert service.workspace.catalog.segment_copies(NAME) == [], "nothing counts"
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert not [o for o in listed if "/history/" in o["Key"]], "no history object"
    assert open_on_server(s3_server, bucket), "the killed run left its upload open"

    # The next start: the sweep removes the killed run's scratch, the next round aborts
    # its open upload and sends the batch again, proven.
    again = Service()
    again.sweep()
    assert not _files_under(home / "tmp")
    sent = again.upload_history(NAME)
    assert len(sent.uploaded) == 1
    assert open_on_server(s3_server, bucket) == {}
    (copy,) = again.workspace.catalog.segment_copies(NAME)
    body = on_server(s3_server, bucket, copy.key)
    manifest = json.loads(on_server(s3_server, bucket, copy.manifest_key))
    assert hashlib.sha256(body).hexdigest() == copy.sha256 == manifest["sha256"]
    assert manifest["remote_object"]["part_size"] == 5 * 1024 * 1024
