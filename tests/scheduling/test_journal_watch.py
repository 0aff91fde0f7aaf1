"""Continuous protection of a rollback-journal database (scheduling/journal_watch.py):
a writer process commits, the capture host in this process takes differentials through
the backup pipeline; no change takes none; a moment restores to the snapshot at or before
it; a switch to WAL moves the source to the WAL follower and back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.scheduling.capture import CaptureHost
from lifeboat.service import Service
from lifeboat.service.history_status import continuous_line
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until

WRITER = Path(__file__).parent.parent / "helpers" / "journal_writer.py"
NAME = "notes"


class Writer:
    """The app: its own process, its connection open, committing on command."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def write(self, rows: int) -> tuple[int, datetime]:
        """Commit `rows` rows; the highest id and the moment after the commit."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"write {rows}\n")
        self.proc.stdin.flush()
        top, when_ns = self._line().split()
        return int(top), datetime.fromtimestamp(int(when_ns) / 1e9, UTC)

    def close(self) -> None:
        if self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)


def ids_in(db: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("select id from items")}
    finally:
        conn.close()


def continuous(service: Service) -> list[SnapshotRecord]:
    """The source's continuous snapshots, newest first."""
    return [r for r in service.snapshots(NAME) if r.manifest.reason == "continuous"]


def continuous_jobs(service: Service) -> int:
    return sum(1 for j in service.jobs(limit=1000) if j.trigger == "continuous")


@pytest.fixture
def watched(home: Path, tmp_path: Path) -> Iterator[tuple[Service, CaptureHost, Writer, Path]]:
    db = make_db(tmp_path / "notes.db", rows=200, wal=False)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True, continuous_every="1s")
    writer = Writer(db)
    host = CaptureHost(service, interval=0.05)
    host.start()
    try:
        yield service, host, writer, db
    finally:
        host.stop()
        writer.close()


def captured_after(service: Service, when: datetime) -> SnapshotRecord:
    """Wait for a continuous snapshot begun after `when` (so it holds that commit)."""
    return wait_until(
        lambda: next((r for r in continuous(service) if r.manifest.created_at > when), None),
        f"a differential after {when.isoformat()}",
    )


def test_changes_make_differentials_and_a_moment_restores_the_snapshot_before_it(
    watched: tuple[Service, CaptureHost, Writer, Path], tmp_path: Path
):
    service, host, writer, db = watched
    states: list[tuple[SnapshotRecord, set[int]]] = []
    for _ in range(3):
        _top, when = writer.write(25)
        rows = ids_in(db)
        states.append((captured_after(service, when), rows))
    kinds = [r.manifest.kind for r, _ in states]
    assert "diff" in kinds, f"the rebase rules keep differentials: {kinds}"

    # No change: the counter does not move, so no backup is even queued.
    jobs, snaps, checks = continuous_jobs(service), len(continuous(service)), host.journals
    seen = checks.checks(NAME)
    wait_until(lambda: checks.checks(NAME) >= seen + 3, "three more reads of the header")
    assert continuous_jobs(service) == jobs and len(continuous(service)) == snaps

    status = service.status().sources[0]
    line = continuous_line(status.continuous_state, datetime.now(UTC))
    assert line is not None and line.startswith("protected every second, last change captured")

    for index, (record, rows) in enumerate(states):
        # a moment just after this snapshot began, before the next one
        at = record.manifest.created_at + timedelta(milliseconds=1)
        out = tmp_path / f"at-{index}.db"
        choice = service.point(NAME, at)
        assert choice.snapshot_only and choice.base_id == record.id
        assert 0 < choice.before_asked < 1
        service.restore_point(NAME, at, to=out)
        assert ids_in(out) == rows, f"moment {index}: exactly the rows of its snapshot"


def test_the_cli_says_which_snapshot_a_moment_used_and_how_far_before_it(
    watched: tuple[Service, CaptureHost, Writer, Path], cli, tmp_path: Path
):
    service, _host, writer, _db = watched
    _top, when = writer.write(10)
    record = captured_after(service, when)
    at = record.manifest.created_at + timedelta(milliseconds=400)
    wait_until(lambda: datetime.now(UTC) > at, "that moment to be past")
    local = at.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")
    out = tmp_path / "restored.db"
    done = cli("restore", NAME, "--at", local, "--to", str(out))
    assert done.code == 0, done.err
    assert f"snapshot {record.id}" in done.out and "0.4 s before" in done.out
    assert "no continuous history covers that moment" in done.out
    diff = cli("diff", NAME, "--at", local)
    assert diff.code == 0, diff.err
    assert f"snapshot {record.id}" in diff.out
    early = cli("restore", NAME, "--at", "2001-01-01 00:00:00", "--to", str(tmp_path / "x.db"))
    assert early.code != 0 and "Traceback" not in early.err


def test_a_switch_to_wal_moves_it_to_the_follower_and_back(
    watched: tuple[Service, CaptureHost, Writer, Path],
):
    service, host, writer, db = watched
    writer.write(5)
    wait_until(lambda: continuous(service), "a first capture")
    writer.close()
    app = sqlite3.connect(db, isolation_level=None)
    try:
        assert app.execute("pragma journal_mode=wal").fetchone()[0] == "wal"
        wait_until(lambda: NAME in host.following, "the WAL follower following it")
        app.execute("insert into items(name, payload) values ('wal', x'00')")
        wait_until(
            lambda: (
                (s := service.status().sources[0]).last_capture is not None
                and s.continuous_every is None
            ),
            "the commit captured from the WAL",
        )
        assert app.execute("pragma journal_mode=delete").fetchone()[0] == "delete"
        wait_until(lambda: NAME not in host.following, "the follower let go")
        jobs = continuous_jobs(service)
        app.execute("insert into items(name, payload) values ('journal', x'00')")
        wait_until(lambda: continuous_jobs(service) > jobs, "a differential queued again")
    finally:
        app.close()
        writer.proc.wait(timeout=30)


def test_a_change_waits_while_backups_are_paused(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=50, wal=False)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True, continuous_every="1s")
    host = CaptureHost(service, interval=0.05)
    host.set_paused(True)
    writer = Writer(db)
    host.start()
    try:
        writer.write(5)
        turns = host.turns
        wait_until(lambda: host.turns >= turns + 20, "the host's loop turning while paused")
        assert host.journals.checks(NAME) == 0 and continuous_jobs(service) == 0, "paused"
        host.set_paused(False)
        wait_until(lambda: continuous(service), "the change captured once resumed")
    finally:
        host.stop()
        writer.close()
