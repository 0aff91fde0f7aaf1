"""Capture with real processes: an application writing while a follower follows it in
another process; restores to random points compared with what the application logged."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.runs import WORK_RE
from tests.core.history.helpers import make_capture

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "app"), str(REPO)])}
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == expected, f"{expected!r} expected, got {line!r}"


class AppLog:
    """What the application's log says: each commit's times and operation."""

    def __init__(self, path: Path) -> None:
        self.commits: dict[int, tuple[float, float, str, int]] = {}
        self.checkpoints = 0
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts[0] == "checkpoint":
                self.checkpoints += 1
                continue
            k, start, end, op, row = parts
            self.commits[int(k)] = (float(start), float(end), op, int(row))

    def state(self, k: int) -> dict[int, bytes]:
        rows: dict[int, bytes] = {}
        for n in range(1, k + 1):
            _, _, op, row = self.commits[n]
            if op == "delete":
                del rows[row]
            else:
                rows[row] = (f"commit-{n}-".encode() * 40)[:300]
        return rows


def _restored(path: Path) -> tuple[int, dict[int, bytes]]:
    conn = sqlite3.connect(path)
    try:
        (k,) = conn.execute("select k from meta").fetchone()
        rows = dict(conn.execute("select id, v from items").fetchall())
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        return int(k), rows
    finally:
        conn.close()


def _check_points(capture, base_id: str, log: AppLog, rng: random.Random, count: int) -> int:  # type: ignore[no-untyped-def]
    """Restore `count` random points; each must be exactly the state after some commit
    k that started before the point, with no later commit left out that ended well
    before it. Returns how many points were checked."""
    chain = capture.chain(base_id)
    first, last = chain[0].first_time_us / 1e6, chain[-1].last_time_us / 1e6
    checked = 0
    for i in range(count):
        at = rng.uniform(first, last + 0.2)
        point = capture.point(base_id, int(at * 1e6))
        if point is None:
            continue
        k, rows = _restored(capture.restore(base_id, int(at * 1e6), f"point-{i}.db"))
        assert rows == log.state(k), f"point {at}: not the state after commit {k}"
        if k:
            assert log.commits[k][0] <= point.time_us / 1e6 <= at
        later = log.commits.get(k + 1)
        if later is not None:
            assert later[1] > at - 2.0, f"commit {k + 1} ended long before {at} but is missing"
        checked += 1
    return checked


def _merged_in_chain(segments) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    merged = gaps = 0
    for segment in segments:
        with SegmentReader(segment.path) as reader:
            assert reader.verify() == len(reader.commits)
            merged += sum(1 for c in reader.commits if c.flags & FLAG_MERGED)
            gaps += sum(1 for c in reader.commits if c.flags & FLAG_GAP)
    return merged, gaps


@pytest.mark.parametrize("chaos", [0.0, 0.04], ids=["steady", "checkpoints-forced"])
def test_every_point_is_the_state_the_app_logged(tmp_path, chaos):
    """A real writer process (forcing TRUNCATE and RESTART checkpoints at random moments
    when `chaos`), a follower process polling every 50 ms: restoring 25 random points
    gives exactly the rows the writer had committed then; merged catch-ups are counted
    in the history as the follower counted them."""
    db, log_path, status = tmp_path / "app.db", tmp_path / "app.log", tmp_path / "status.json"
    writer = _spawn("app_writer.py", db, log_path, 400, 0.004, chaos, 7)
    _wait_line(writer, "ready")
    follower = _spawn("follow_process.py", tmp_path, db, 0.05, status)
    try:
        _wait_line(follower, "following")
        _wait_line(writer, "done")
        time.sleep(0.3)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
        writer.kill()
        writer.wait()
    state = json.loads(status.read_text())
    log = AppLog(log_path)
    capture = make_capture(tmp_path, db)
    base_id = state["chain"]
    chain = capture.chain(base_id)
    merged, gaps = _merged_in_chain(chain)
    assert merged == state["merged"] and gaps == 0
    assert _check_points(capture, base_id, log, random.Random(3), 25) >= 20
    # The last point is the writer's last commit.
    end = chain[-1].last_time_us
    k, rows = _restored(capture.restore(base_id, end, "last.db"))
    assert k == 400 and rows == log.state(400)
    if chaos:
        assert log.checkpoints > 3
    print(f"checkpoints forced: {log.checkpoints}, merged catch-ups: {merged}")


def test_kill_9_loses_at_most_what_waited_to_be_written_and_the_next_start_cleans_up(tmp_path):
    """SIGKILL of a follower process mid-capture (it writes every 0.5 s, the default):
    what the app committed more than a poll and a write interval before the kill is in
    the history; every segment verifies; the next start sweeps the killed run's work
    files and records one gap."""
    db, log_path, status = tmp_path / "app.db", tmp_path / "app.log", tmp_path / "status.json"
    writer = _spawn("app_writer.py", db, log_path, 500, 0.004, 0.0, 11)
    _wait_line(writer, "ready")
    first = _spawn("follow_process.py", tmp_path, db, 0.02, tmp_path / "unused.json")
    second = None
    try:
        _wait_line(first, "following")
        time.sleep(0.8)
        first.kill()  # SIGKILL, mid-capture
        first.wait()
        killed_at = time.time()
        time.sleep(0.3)
        second = _spawn("follow_process.py", tmp_path, db, 0.02, status)
        _wait_line(second, "following")
        _wait_line(writer, "done")
        time.sleep(0.3)
    finally:
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        writer.kill()
        writer.wait()
    state = json.loads(status.read_text())
    assert state["gaps"] == 1
    folder = tmp_path / "snapshots" / "notes"
    # Nothing of the killed run is left: the second start swept its work files.
    runs = {p.stem for p in (tmp_path / "run" / "runs").glob("*.lock")}
    assert not [n for n in os.listdir(folder) if WORK_RE.match(n) and n[4:16] not in runs]
    capture = make_capture(tmp_path, db)
    chain = capture.chain(state["chain"])
    _merged, gaps = _merged_in_chain(chain)
    assert gaps == 1
    log = AppLog(log_path)
    # What was committed well before the kill is in the history before the gap.
    gap_time = next(
        c.time_us for s in chain for c in SegmentReader(s.path).commits if c.flags & FLAG_GAP
    )
    before_gap = capture.point(state["chain"], gap_time - 1)
    assert before_gap is not None
    k, rows = _restored(capture.restore(state["chain"], gap_time - 1, "before-gap.db"))
    assert rows == log.state(k)
    settled = [n for n, (_, end, _, _) in log.commits.items() if end < killed_at - 0.3 - 0.5]
    assert k >= max(settled, default=0)
    assert _check_points(capture, state["chain"], log, random.Random(5), 15) >= 10


def test_the_follower_never_writes_the_apps_files(tmp_path):
    """With the application stopped (SIGSTOP: its files stay as they are), polls and a
    restart of the follower (its catch-up included) leave the -wal and -shm untouched:
    same bytes, same modification times."""
    db, log_path = tmp_path / "app.db", tmp_path / "app.log"
    writer = _spawn("app_writer.py", db, log_path, 100_000, 0.003, 0.0, 13)
    try:
        _wait_line(writer, "ready")
        capture = make_capture(tmp_path, db)
        follower = capture.follower()
        follower.start()
        for _ in range(10):
            time.sleep(0.03)
            follower.poll()
        writer.send_signal(signal.SIGSTOP)
        time.sleep(0.1)
        files = [Path(f"{db}-wal"), Path(f"{db}-shm"), db]
        before = [(p.read_bytes(), os.stat(p).st_mtime_ns) for p in files]
        took = sum(follower.poll() for _ in range(20))
        follower.close()
        again = capture.follower()
        again.start()  # resumes: a catch-up read from the files, flagged as a gap
        for _ in range(5):
            again.poll()
        after = [(p.read_bytes(), os.stat(p).st_mtime_ns) for p in files]
        again.close()
        assert after == before
        assert took >= 0 and again.status.gaps == 1
    finally:
        writer.send_signal(signal.SIGCONT)
        writer.kill()
        writer.wait()


def test_a_gap_is_recorded_when_the_follower_was_down(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.execute("create table meta(k integer)")
    conn.execute("insert into meta values (0)")
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for k in range(1, 6):
        conn.execute("insert into items values (?, ?)", (k, b"a" * 100))
        conn.execute("update meta set k = ?", (k,))
        follower.poll()
    before_down = follower.status.last_capture_us
    assert before_down is not None
    follower.close()
    for k in range(6, 12):  # while nobody follows
        conn.execute("insert into items values (?, ?)", (k, b"b" * 100))
        conn.execute("update meta set k = ?", (k,))
    restarted = capture.follower()
    restarted.start()
    assert restarted.status.gaps == 1 and restarted.status.chain == follower.status.chain
    gap_at = restarted.status.last_capture_us
    assert gap_at is not None
    base = follower.status.chain
    assert base is not None
    inside = capture.point(base, (before_down + gap_at) // 2)
    assert inside is not None and inside.time_us == before_down  # nothing in between
    end = capture.point(base, gap_at)
    assert end is not None and end.flags & FLAG_GAP
    k, rows = _restored(capture.restore(base, gap_at, "after-gap.db"))
    assert k == 11 and sorted(rows) == list(range(1, 12))
    restarted.close()


def test_a_third_party_library_writing_its_own_database(tmp_path):
    """diskcache (WAL mode) in a process of its own; random points rebuild its rows."""
    pytest.importorskip("diskcache")
    folder, log_path, status = tmp_path / "cache", tmp_path / "cache.log", tmp_path / "st.json"
    writer = _spawn("diskcache_writer.py", folder, log_path, 300, 0.004)
    _wait_line(writer, "ready")
    db = folder / "cache.db"
    follower = _spawn("follow_process.py", tmp_path, db, 0.05, status)
    try:
        _wait_line(follower, "following")
        _wait_line(writer, "done")
        time.sleep(0.3)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
        writer.kill()
        writer.wait()
    base_id = json.loads(status.read_text())["chain"]
    states: list[dict[str, bytes]] = [{}]
    for line in log_path.read_text().splitlines():
        op, key, value = line.split()
        current = dict(states[-1])
        if op == "set":
            current[key] = bytes.fromhex(value)
        else:
            current.pop(key, None)
        states.append(current)
    capture = make_capture(tmp_path, db)
    chain = capture.chain(base_id)
    rng = random.Random(9)
    matched = 0
    first, last = chain[0].first_time_us, chain[-1].last_time_us
    for i in range(15):
        at = rng.randint(first, last)
        restored = capture.restore(base_id, at, f"cache-{i}.db")
        conn = sqlite3.connect(restored)
        rows = {k: bytes(v) for k, v in conn.execute("select key, value from Cache")}
        conn.close()
        assert rows in states, f"point {i} is not a state diskcache was in"
        matched += 1
    final = capture.restore(base_id, last, "cache-last.db")
    conn = sqlite3.connect(final)
    assert {k: bytes(v) for k, v in conn.execute("select key, value from Cache")} == states[-1]
    conn.close()
    assert matched == 15
