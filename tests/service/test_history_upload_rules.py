"""Sending continuous history: the setting (`--continuous-upload-every`), the status
words, the problem a failing upload is, and the uploader thread against the S3 server
process (rounds only when something is new; failures reported once, then cleared)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.foundation.states import Health
from lifeboat.scheduling.history_upload import FAILED_AFTER, HistoryUploader
from lifeboat.service import Service
from lifeboat.service.history_remote import remote_history_line
from lifeboat.service.problems import problem_of
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.service.test_history_remote import NAME, _capture, _history_objects
from tests.service.test_problems import status
from tests.storage.test_remote import add_remote

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_the_upload_interval_is_a_setting_checked_in_one_line(cli, tmp_path: Path):
    wal = make_db(tmp_path / "wal.db", rows=5)
    assert cli("source", "add", str(wal), "--continuous").code == 0
    shown = cli("source", "set", "wal", "--continuous-upload-every", "30 seconds", "--json")
    assert shown.code == 0 and '"continuous_upload_every": "30s"' in shown.out
    for bad, words in (("0s", "from 1 second to 1 day"), ("soon", "not a length of time")):
        result = cli("source", "set", "wal", "--continuous-upload-every", bad)
        assert result.code == 2 and words in result.err, result.err
        assert "Traceback" not in result.err and len(result.err.strip().splitlines()) <= 2
    assert Service().source("wal").upload_every_s == 30


@pytest.mark.parametrize(
    ("until", "last", "line"),
    [
        (None, None, None),
        (None, NOW, "remote offsite holds none of its current history yet"),
        (NOW, NOW, "(all of it)"),
        (NOW - timedelta(seconds=8), NOW, "(8 s behind this computer)"),
        (NOW - timedelta(minutes=5), NOW, "(5 min behind this computer)"),
    ],
)
def test_how_far_the_remote_holds_the_history_in_words(until, last, line):
    said = remote_history_line("offsite", until, last, NOW)
    assert (said is None) if line is None else (said is not None and line in said)


def test_a_history_upload_that_keeps_failing_is_an_upload_problem():
    failing = status(continuous=True, history_upload_failed="the remote refused the request")
    problem = problem_of(failing, NOW)
    assert problem is not None and problem.kind is Health.REMOTE_UNREACHABLE
    assert "Continuous history not sent to offsite" in problem.reason
    assert failing.state == "warning"
    assert problem_of(status(continuous=True), NOW) is None


def test_the_uploader_sends_new_history_and_reports_a_remote_that_keeps_failing(
    home: Path,
    file_keyring: Path,
    tmp_path: Path,
    s3_server,
    bucket: str,
    proxy,
    instant_retries: None,
):
    service = Service()
    add_remote(service, s3_server, bucket, endpoint=proxy.url)
    db = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(db, name=NAME, schedule="manual", continuous=True, remote="offsite")
    service.update_source(NAME, continuous_upload_every="1s")
    _capture(service, db, range(1000, 1003), "a")
    uploader = HistoryUploader(service)
    uploader.start()
    try:
        wait_until(lambda: len(_history_objects(s3_server, bucket)) == 2, "the first batch")
        requests = proxy.requests
        rounds = uploader.rounds
        wait_until(lambda: uploader.rounds >= rounds + 2, "two more rounds")
        assert proxy.requests == requests, "nothing new: not one request"

        # Backups paused: nothing is sent (the loop turns; no round starts) until resumed.
        uploader.set_paused(True)
        _capture(service, db, range(1500, 1502), "p")
        turns = uploader.turns
        wait_until(lambda: uploader.turns >= turns + 8, "two intervals while paused")
        assert len(_history_objects(s3_server, bucket)) == 2 and proxy.requests == requests
        uploader.set_paused(False)
        wait_until(lambda: len(_history_objects(s3_server, bucket)) == 4, "sent once resumed")

        proxy.faults.offline = True
        _capture(service, db, range(2000, 2002), "b")

        def reported() -> bool:
            return next(s for s in service.status().sources).history_upload_failed is not None

        wait_until(reported, "the failure reported")
        problem = problem_of(next(iter(service.status().sources)), datetime.now(UTC))
        assert problem is not None and problem.kind is Health.REMOTE_UNREACHABLE
        proxy.faults.reset()
        wait_until(lambda: not reported(), "the failure cleared")
        assert len(_history_objects(s3_server, bucket)) == 6
    finally:
        uploader.stop()
    kinds = [e["kind"] for e in service.workspace.catalog.events() if e["source"] == NAME]
    assert kinds.count("history-upload:failed") == 1, f"reported once, after {FAILED_AFTER}"
