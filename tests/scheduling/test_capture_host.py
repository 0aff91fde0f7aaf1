"""The capture thread (scheduling/capture.py) in this process: a capture that keeps
failing is recorded once as stopped (a problem in the status), its success ends it; a
source switched off is let go."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from lifeboat.foundation.states import Health
from lifeboat.scheduling import capture
from lifeboat.scheduling.capture import CaptureHost
from lifeboat.service import Service
from lifeboat.service.history import chains_of
from lifeboat.service.problems import problem_of
from tests.conftest import set_source
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until

T = TypeVar("T")


def test_a_failing_capture_is_a_problem_until_it_runs_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(capture, "_FIRST_PAUSE", 0.02)
    monkeypatch.setattr(capture, "_LONGEST_PAUSE", 0.1)
    db = make_db(tmp_path / "notes.db", rows=20)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    aside = tmp_path / "aside.db"
    os.rename(db, aside)  # the database is gone for now: every start fails
    host = CaptureHost(service, interval=0.02)
    host.start()
    try:

        def stopped() -> str | None:
            return service.status().sources[0].capture_stopped

        why = wait_until(stopped, "the capture recorded as stopped")
        assert "notes.db" in why
        problem = problem_of(service.status().sources[0], datetime.now(UTC))
        assert problem is not None and problem.kind is Health.CAPTURE_STOPPED
        kinds = [e["kind"] for e in service.events() if e["source"] == "notes"]
        assert kinds.count("continuous:stopped") == 1, "recorded once, not at every retry"

        os.rename(aside, db)
        wait_until(lambda: not stopped(), "the capture running again")
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("insert into items(id, name, payload) values (5000, 'x', x'00')")
        conn.close()
        wait_until(lambda: chains_of(service.workspace, "notes"), "the commit captured")

        set_source(home, "notes", continuous=False)
        host.reload()
        wait_until(lambda: not host.following, "the source let go")
    finally:
        host.stop()


def test_pausing_the_backups_pauses_the_capture_and_the_timeline_shows_the_gap(
    home: Path, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=20)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    host = CaptureHost(service, interval=0.02)
    host.start()

    def write(row: int) -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("insert into items(id, name, payload) values (?, 'x', x'00')", (row,))
        conn.close()

    def captured() -> int:
        return sum(c.commits for c in chains_of(service.workspace, "notes"))

    try:
        wait_until(lambda: host.following, "following")
        write(5001)
        wait_until(lambda: captured() >= 1, "the commit captured")
        host.set_paused(True)
        wait_until(lambda: not host.following, "the capture paused")
        before = captured()
        write(5002)
        write(5003)
        assert captured() == before, "nothing is captured while paused"
        host.set_paused(False)
        wait_until(lambda: captured() > before, "the capture caught up after the pause")
    finally:
        host.stop()
    gaps = [e for e in service.timeline("notes").entries if e.kind == "gap"]
    assert len(gaps) == 1 and "paused" in (gaps[0].reason or "")


def test_a_capture_whose_every_write_fails_after_a_good_start_is_reported(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each restart works (nothing to write yet) and the next poll fails again: the
    failures still add up to a problem, which ends once writing works again."""
    from lifeboat.core.history.folder_lock import MOVED_MARKER

    monkeypatch.setattr(capture, "_FIRST_PAUSE", 0.02)
    monkeypatch.setattr(capture, "_LONGEST_PAUSE", 0.1)
    db = make_db(tmp_path / "notes.db", rows=20)
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    host = CaptureHost(service, interval=0.02)
    host.start()
    row = iter(range(6000, 100000))

    def stopped() -> str | None:
        return service.status().sources[0].capture_stopped

    def committed_then(check: Callable[[], T]) -> Callable[[], T]:
        def step() -> T:
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute(
                "insert into items(id, name, payload) values (?, 'x', x'00')", (next(row),)
            )
            conn.close()
            return check()

        return step

    try:
        wait_until(committed_then(lambda: chains_of(service.workspace, "notes")), "a chain")
        folder = chains_of(service.workspace, "notes")[0].segments[0].path.parent
        marker = folder / MOVED_MARKER
        marker.touch()  # every segment written from now on is refused
        why = wait_until(committed_then(stopped), "the capture recorded as stopped")
        assert "moved" in why
        marker.unlink()
        wait_until(committed_then(lambda: not stopped()), "the capture running again")
    finally:
        host.stop()


def test_a_sealed_history_without_its_key_is_captured_uncompacted_and_reported_once(
    home: Path, file_keyring: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from lifeboat.core.encryption import IDENTITIES_ENTRY

    db = make_db(tmp_path / "notes.db", rows=20)
    first = Service()
    first.init_key()
    first.add_source(db, name="notes", schedule="manual", continuous=True, encrypt_local=True)
    identity = first.secrets.get(IDENTITIES_ENTRY)
    assert identity
    first.secrets.delete(IDENTITIES_ENTRY)  # the keyring does not give it now
    service = Service()
    opened = service.open_follower
    monkeypatch.setattr(service, "open_follower", lambda n: opened(n, compact_every_s=0))
    host = CaptureHost(service, interval=0.02)
    host.start()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for row in range(5000, 5003):
            conn.execute("insert into items(id, name, payload) values (?, 'x', x'00')", (row,))
            wait_until(lambda n=row - 4999: _commits(service) >= n, "the commit captured")

        def waiting() -> str | None:
            return service.status().sources[0].history_not_compacted

        why = wait_until(waiting, "the history recorded as not compacted")
        assert "keyring" in why
        problem = problem_of(service.status().sources[0], datetime.now(UTC))
        assert problem is not None and "is not compacted" in problem.reason
        kinds = [e["kind"] for e in service.events() if e["source"] == "notes"]
        assert kinds.count("continuous:not-compacted") == 1, "recorded once"
        assert service.status().sources[0].capture_stopped is None, "capture goes on"

        first.secrets.put(IDENTITIES_ENTRY, identity)  # the keyring gives it again
        conn.execute("insert into items(id, name, payload) values (6000, 'x', x'00')")
        wait_until(lambda: not waiting(), "compaction caught up")
        (chain,) = chains_of(service.workspace, "notes")
        assert [s.level for s in chain.segments] == [1]
    finally:
        conn.close()
        host.stop()


def _commits(service: Service) -> int:
    return sum(c.commits for c in chains_of(service.workspace, "notes"))


def test_a_database_that_became_a_link_is_reported_and_the_other_sources_go_on(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The header read that tells WAL from rollback journal refuses a link (O_NOFOLLOW):
    that source's capture is reported as stopped, the thread goes on for the others."""
    monkeypatch.setattr(capture, "_FIRST_PAUSE", 0.02)
    monkeypatch.setattr(capture, "_LONGEST_PAUSE", 0.1)
    notes = make_db(tmp_path / "notes.db", rows=20)
    other = make_db(tmp_path / "other.db", rows=20)
    service = Service()
    service.add_source(notes, name="notes", schedule="manual", continuous=True)
    service.add_source(other, name="other", schedule="manual", continuous=True)
    real = tmp_path / "real.db"
    os.rename(notes, real)
    os.symlink(real, notes)  # planted where the database was
    host = CaptureHost(service, interval=0.02)
    host.start()
    try:

        def stopped() -> str | None:
            by_name = {s.name: s for s in service.status().sources}
            return by_name["notes"].capture_stopped

        wait_until(stopped, "the linked database's capture recorded as stopped")
        conn = sqlite3.connect(other, isolation_level=None)
        conn.execute("insert into items(id, name, payload) values (5000, 'x', x'00')")
        conn.close()
        wait_until(lambda: chains_of(service.workspace, "other"), "the other source captured")
        assert host._thread is not None and host._thread.is_alive()
    finally:
        host.stop()
