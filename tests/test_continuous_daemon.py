"""Continuous protection hosted by a real `lifeboat run` process: commits reach the
history within about a second; a kill -9 of the daemon, then a restart, leaves a gap in
the history (reported by the status and the timeline), never damage."""

from __future__ import annotations

import json
import signal
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

from lifeboat.core.history.bases import base_state
from lifeboat.core.history.points import rebuild_point, resolve_point
from lifeboat.core.history.resume import replay
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.runs import start_run
from lifeboat.service import Service
from lifeboat.service.history import HistoryChain, chains_of
from tests.conftest import cli_process
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.test_daemon import start_daemon, stop

NAME = "notes"


def _newest(service: Service) -> HistoryChain | None:
    chains = [c for c in chains_of(service.workspace, NAME) if c.last_us is not None]
    return max(chains, key=lambda c: c.last_us or 0) if chains else None


def _bases(service: Service) -> list[object]:
    return [r for r in service.snapshots(NAME) if r.manifest.reason == "continuous"]


def _captured_after(service: Service, moment: float) -> bool:
    chain = _newest(service)
    return chain is not None and (chain.last_us or 0) / 1e6 >= moment


def _await_capture(
    service: Service, moment: float, what: str, daemon: subprocess.Popen[str], home: Path
) -> None:
    """Wait for a capture after `moment`; a wait that fails says what the daemon logged
    (a capture that stalls is a fault to find, not a slow machine to wait out)."""
    try:
        wait_until(lambda: _captured_after(service, moment), what, process=daemon)
    except AssertionError as exc:
        log = home / "logs" / "lifeboat.log"
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        raise AssertionError(f"{exc}; the daemon's log ends:\n" + "\n".join(tail)) from None


def _rows_at_tip(service: Service, chain: HistoryChain, tmp_path: Path, name: str) -> set[int]:
    assert chain.base is not None and chain.last_us is not None
    point = resolve_point(chain.base, chain.segments, chain.last_us)
    assert point is not None
    run = start_run(tmp_path / f"run-{name}")
    try:
        out = rebuild_point(point, tmp_path / name, run, run.scratch(tmp_path / "temp"))
    finally:
        run.close()
    conn = sqlite3.connect(out.path)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        return {r[0] for r in conn.execute("select id from items")}
    finally:
        conn.close()


def _proven_continuous(chain: HistoryChain, tmp_path: Path) -> None:
    """Every segment checks out and the chain replays from its base to its last digest."""
    assert chain.base is not None
    for segment in chain.segments:
        with SegmentReader(segment.path) as reader:
            assert reader.verify() == segment.commits
    run = start_run(tmp_path / "run-replay")
    try:
        state = base_state(chain.base, run, run.scratch(tmp_path / "temp"))
        digest, last_seq = replay(chain.base, chain.segments, state)
    finally:
        run.close()
    assert digest == chain.segments[-1].end_digest and last_seq == chain.segments[-1].last_seq


def test_daemon_captures_every_commit_and_a_kill_leaves_a_gap_not_damage(
    home: Path, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "notes.db", rows=50)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    writer = sqlite3.connect(db, isolation_level=None)
    ids = {r[0] for r in writer.execute("select id from items")}

    def commit(row: int) -> float:
        """Commit `row`; the time just before. Lifeboat times a commit when it reads its
        frames from the -wal, which can come before the writer's call returns (its fsync,
        on a loaded machine): a time taken after the call could be later than the commit's
        recorded time, and the capture waited for would never come (this test's rare 120 s
        waits, last stop)."""
        before = time.time()
        writer.execute("insert into items(id, name, payload) values (?, ?, ?)", (row, "x", b"y"))
        ids.add(row)
        return before

    daemon = start_daemon(home)
    try:
        wait_until(lambda: _bases(service), "the chain's base snapshot", process=daemon)
        latencies = []
        for row in range(1000, 1012):
            committed = commit(row)
            _await_capture(service, committed, f"row {row} captured", daemon, home)
            latencies.append(time.time() - committed)
        assert statistics.median(latencies) <= 1.0, latencies
        chain = _newest(service)
        assert chain is not None and _rows_at_tip(service, chain, tmp_path, "a.db") == ids

        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        for row in range(2000, 2020):  # committed while Lifeboat is not running
            commit(row)
        down = cli_process(home, "status", "--json")
        assert json.loads(down.stdout)["sources"][0]["continuous"] is True

        daemon = start_daemon(home)
        chain = wait_until(
            lambda: (c := _newest(service)) is not None and c.gaps and c,
            "the gap after the restart",
            process=daemon,
        )
        assert chain and len(chain.gaps) == 1
        assert _rows_at_tip(service, chain, tmp_path, "b.db") == ids
        committed = commit(3000)
        _await_capture(service, committed, "a commit after the restart", daemon, home)

        status = json.loads(cli_process(home, "status", "--json").stdout)["sources"][0]
        assert status["gaps"] == 1 and status["last_capture"] and not status["capture_stopped"]
        timeline = json.loads(cli_process(home, "timeline", NAME, "--json").stdout)
        gaps = [e for e in timeline["entries"] if e["kind"] == "gap"]
        assert [g["reason"] for g in gaps] == ["Lifeboat was not running, or was paused"]
        text = cli_process(home, "status").stdout
        assert f"{NAME}: protected continuously, last change captured" in text
    finally:
        if daemon.poll() is None:
            stop(daemon)
        writer.close()
    chain = _newest(service)
    assert chain is not None
    _proven_continuous(chain, tmp_path)
    assert not list(chain.segments[0].path.parent.glob(".lb-*")), "work files left behind"
    assert len(_bases(service)) == 1, "a restart continues the chain: no new base"
