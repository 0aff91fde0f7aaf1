"""A real `lifeboat run` process sends a continuously protected source's history to its
remote (the S3 server process, behind the fault proxy that counts requests): each commit
reaches the remote within the interval, and while nothing changes not one request is
made."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from lifeboat.service import Service
from tests.conftest import cli_process
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.storage.test_remote import add_remote
from tests.test_daemon import start_daemon, stop

NAME = "notes"
EVERY_S = 2.0


def _held_since(service: Service, moment: float) -> bool:
    copies = service.workspace.catalog.segment_copies(NAME, "offsite")
    return any(c.last_time_us / 1e6 >= moment for c in copies)


def test_the_daemon_sends_each_commit_within_the_interval_and_nothing_while_idle(
    home: Path, file_keyring: Path, tmp_path: Path, s3_server, bucket: str, proxy
) -> None:
    db = make_db(tmp_path / "notes.db", rows=50)
    service = Service()
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    service.update_source(NAME, continuous_upload_every=f"{EVERY_S:.0f}s")
    writer = sqlite3.connect(db, isolation_level=None)
    daemon = start_daemon(home)
    try:
        wait_until(
            lambda: [r for r in service.snapshots(NAME) if r.manifest.reason == "continuous"],
            "the chain's base",
            process=daemon,
        )
        delays = []
        for row in range(1000, 1004):
            # Stamped before the commit, not after: the capture stamps a commit when it
            # reads it from the WAL, which may be before the writer's execute returns
            # (SQLite fsyncs the WAL after writing it; under load that takes a while). A
            # stamp taken after could be later than the commit's own, and no copy would
            # ever be "since" it (what failed 3 runs in 15 under load, waiting 120 s).
            committed = time.time()
            writer.execute("insert into items(id, name, payload) values (?, 'x', x'00')", (row,))
            wait_until(
                lambda t=committed: _held_since(service, t),
                f"row {row} on the remote",
                process=daemon,
            )
            delays.append(time.time() - committed)
        # capture (<= ~1 s) + the interval + one round; generous for a loaded machine
        assert max(delays) <= EVERY_S + 1.0 + 5.0, delays
        text = cli_process(home, "status").stdout
        assert f"{NAME}: remote offsite holds its history up to" in text, text

        before, rounds_seen = proxy.requests, time.monotonic()
        wait_until(lambda: time.monotonic() - rounds_seen > 3 * EVERY_S, "three idle intervals")
        assert proxy.requests == before, "nothing changed: not one request"
    finally:
        writer.close()
        if daemon.poll() is None:
            stop(daemon)
