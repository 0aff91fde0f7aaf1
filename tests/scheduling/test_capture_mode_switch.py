"""A capture recorded as stopped ends when the source's capture works again in its new
mode: a database switched out of WAL mode (to a rollback journal) is captured by
differentials (scheduling/journal_watch.py), and their success ends the problem."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lifeboat.core.history.folder_lock import MOVED_MARKER
from lifeboat.scheduling import capture
from lifeboat.scheduling.capture import CaptureHost
from lifeboat.service import Service
from lifeboat.service.history import chains_of
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until

T = TypeVar("T")


def test_capture_stopped_ends_once_the_rollback_journal_capture_works(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
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
        (folder / MOVED_MARKER).touch()  # every segment written from now on is refused
        wait_until(committed_then(stopped), "the capture recorded as stopped")
        bases = {c.base_id for c in chains_of(service.workspace, "notes")}
        taken = {r.id for r in service.snapshots("notes")}
        conn = sqlite3.connect(db, isolation_level=None)
        assert conn.execute("pragma journal_mode=delete").fetchone()[0] == "delete"
        conn.execute("insert into items(id, name, payload) values (99999, 'journal', x'00')")
        conn.close()
        # the rollback-journal capture: a differential into the snapshot folder (the
        # planted marker refuses only the WAL history's segments)
        wait_until(
            lambda: {r.id for r in service.snapshots("notes")} - taken - bases,
            "the rollback-journal capture took a snapshot",
        )
        # THE RULE: the capture works in its new mode, so the problem has ended
        wait_until(lambda: not stopped(), "the stop ended")
        kinds = [e["kind"] for e in service.events() if e["source"] == "notes"]
        assert kinds.count("continuous:stopped") == 1
    finally:
        host.stop()
