"""Restore and preview any point in time, through the CLI as a process, against the
states a real writer process logged while a follower process captured its commits."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.manifest import read_manifest
from lifeboat.core.runs import WORK_RE
from tests.conftest import cli_process
from tests.core.history.test_capture import AppLog
from tests.helpers.killing import kill_during_work, time_work

HISTORY = Path(__file__).resolve().parent / "core" / "history"
REPO = HISTORY.parents[2]


@dataclass
class Captured:
    home: Path
    db: Path
    log: AppLog
    first: float  # the first commit end history covers, and the last (wall-clock seconds)
    last: float


def _spawn(script: str, home: Path, *args: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LIFEBOAT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO / "app"), str(REPO)]),
    }
    return subprocess.Popen(
        [sys.executable, str(HISTORY / script), *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _expect(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == line


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """A writer process commits 300 times (every 10 ms) while a follower process on the
    service's workspace captures them; then both stop (the writer by SIGKILL: its -wal
    stays, as an application's does)."""
    root = tmp_path_factory.mktemp("points")
    home, db, log_path = root / "home", root / "app.db", root / "app.log"
    conn = sqlite3.connect(db)
    conn.execute("pragma journal_mode=wal")
    conn.close()
    added = cli_process(home, "source", "add", str(db), "--name", "notes")
    assert added.returncode == 0, added.stderr
    writer = _spawn("app_writer.py", home, db, log_path, 300, 0.01, 0.0, 5)
    _expect(writer, "ready")
    follower = _spawn("service_follower.py", home, "notes", 0.05)
    try:
        _expect(follower, "following")
        # The writer commits from its start; under load the follower's chain may start
        # after its first commits, and history begins with the chain.
        following = time.time()
        _expect(writer, "done")
        time.sleep(0.8)  # a poll and the follower's write interval
    finally:
        follower.send_signal(signal.SIGTERM)
        _expect(follower, "stopped")
        follower.wait(timeout=30)
        writer.kill()
        writer.wait()
    log = AppLog(log_path)
    ends = [end for _, end, _, _ in log.commits.values()]
    return Captured(home, db, log, max(min(ends), following), max(ends))


def _rows(path: Path) -> tuple[int, dict[int, bytes]]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        (k,) = conn.execute("select k from meta").fetchone()
        return int(k), dict(conn.execute("select id, v from items").fetchall())
    finally:
        conn.close()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone().isoformat()


def test_points_restored_through_the_cli_are_the_states_the_writer_logged(captured, tmp_path):
    """Random moments, given as local times and as ISO times with a zone: each restore
    says which commit it chose, and the file holds exactly the rows the writer had
    committed then (no commit that ended well before the moment is missing)."""
    rng = random.Random(7)
    for i in range(8):
        at = rng.uniform(captured.first + 0.3, captured.last)
        local = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S.%f")
        given = local if i % 2 else _iso(at)
        out = tmp_path / f"point-{i}.db"
        done = cli_process(captured.home, "restore", "notes", "--at", given, "--to", str(out))
        assert done.returncode == 0, done.stderr
        assert "restored notes as it was at" in done.stdout
        k, rows = _rows(out)
        assert rows == captured.log.state(k), f"{given}: not the state after commit {k}"
        assert captured.log.commits[k][0] <= at
        later = captured.log.commits.get(k + 1)
        assert later is None or later[1] > at - 1.5, f"commit {k + 1} is missing at {given}"
    # The newest point: everything the writer committed.
    last = tmp_path / "last.db"
    done = cli_process(
        captured.home, "restore", "notes", "--at", "now", "--to", str(last), "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["point"]["source"] == "notes" and result["safety_snapshot"] is None
    k, rows = _rows(last)
    assert k == 300 and rows == captured.log.state(300)


@pytest.mark.parametrize(
    ("at", "says"),
    [
        ("2 days ago", "is before its history begins; the earliest point is"),
        ("2099-01-01 10:00", "is in the future"),
        ("the day before", "is not a time Lifeboat understands"),
    ],
)
def test_times_that_cannot_be_restored_get_one_clear_line(captured, tmp_path, at, says):
    out = tmp_path / "never.db"
    done = cli_process(captured.home, "restore", "notes", "--at", at, "--to", str(out))
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert not out.exists()


def test_diff_at_previews_a_point_and_leaves_nothing(captured):
    at = captured.first + (captured.last - captured.first) / 2
    done = cli_process(captured.home, "diff", "notes", "--at", _iso(at), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    k = result["point"]["commit_seq"]
    items = next(t for t in result["tables"] if t["name"] == "items")
    assert items["rows_snapshot"] == len(captured.log.state(_k_at(captured, at)))
    assert k >= 1
    text = cli_process(captured.home, "diff", "notes", "--at", _iso(at))
    assert "comparing notes as it was at" in text.stdout
    assert not _work_files(captured.home)


def _k_at(captured: Captured, at: float) -> int:
    """The writer's commit number that the point at `at` holds (from a restore)."""
    out = captured.home.parent / f"k-{at}.db"
    done = cli_process(captured.home, "restore", "notes", "--at", _iso(at), "--to", str(out))
    assert done.returncode == 0, done.stderr
    k, _ = _rows(out)
    out.unlink()
    return k


def _work_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if WORK_RE.match(p.name)]


def _live_rows(db: Path) -> tuple[int, dict[int, bytes]]:
    return _rows(db)


def test_in_place_restore_of_a_point_keeps_a_safety_snapshot(captured, tmp_path):
    """In place: without --yes (no terminal) the preview is shown and nothing changes;
    with --yes the live database holds the point and what was there is a protected
    snapshot that restores to it."""
    before = _live_rows(captured.db)
    at = _iso(captured.first + (captured.last - captured.first) / 3)
    asked = cli_process(captured.home, "restore", "notes", "--at", at)
    assert asked.returncode == 2
    assert "restoring notes as it was at" in asked.stdout
    assert _live_rows(captured.db) == before
    done = cli_process(captured.home, "restore", "notes", "--at", at, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    k, rows = _live_rows(captured.db)
    assert rows == captured.log.state(k) and k < before[0]
    safety = result["safety_snapshot"]
    kept = tmp_path / "kept.db"
    assert cli_process(captured.home, "restore", safety, "--to", str(kept)).returncode == 0
    assert _rows(kept) == before
    # Put the live database back for the other tests.
    back = cli_process(captured.home, "restore", safety, "--yes")
    assert back.returncode == 0, back.stderr
    assert _live_rows(captured.db) == before


def test_kill_9_during_a_point_restore(captured, tmp_path):
    """SIGKILL at random moments of an in-place point restore: the live database is
    what it was (or, past the commit, the whole point), and the next start leaves
    none of the killed run's files."""
    pristine = tmp_path / "pristine.db"
    src, dst = sqlite3.connect(captured.db), sqlite3.connect(pristine)
    src.backup(dst)
    src.close()
    dst.close()
    old = _live_rows(captured.db)
    at = _iso(captured.first + (captured.last - captured.first) / 2)
    env = {**os.environ, "LIFEBOAT_HOME": str(captured.home)}
    command = [sys.executable, "-m", "lifeboat", "restore", "notes", "--at", at, "--yes"]

    def reset() -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{captured.db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, captured.db)
        conn = sqlite3.connect(captured.db)
        conn.execute("pragma journal_mode=wal")
        conn.close()

    reset()
    work_s = time_work(captured.home, command, env)
    new = _live_rows(captured.db)
    assert new != old
    outcomes = {"old": 0, "new": 0}

    def after_each(killed: bool) -> None:
        state = _live_rows(captured.db)
        assert state in (old, new), "the live database holds a mix"
        outcomes["old" if state == old else "new"] += 1
        assert killed or state == new

    kill_during_work(
        captured.home,
        command,
        env,
        kills=6,
        work_s=work_s,
        seed=3,
        before_each=reset,
        after_each=after_each,
    )
    assert outcomes["old"] >= 1, outcomes
    # The next start sweeps what the killed runs left, wherever they wrote.
    assert cli_process(captured.home, "status").returncode == 0
    assert not _work_files(captured.home)
    assert not [p for p in captured.db.parent.iterdir() if WORK_RE.match(p.name)]
    folder = captured.home / "snapshots" / "notes"
    for path in folder.glob("*.json"):
        read_manifest(path)  # every manifest left is whole
    reset()


def test_kill_9_during_a_point_restore_to_a_new_file(captured, tmp_path):
    """SIGKILL at random moments of `restore --at T --to FILE` (the point's check runs on
    its work file beside the target, during its fsync): FILE is either absent or the
    whole point, and the next start leaves no work file beside it or anywhere else."""
    target_dir = tmp_path / "to"
    target_dir.mkdir()
    target = target_dir / "point.db"
    at = _iso(captured.first + (captured.last - captured.first) / 3)
    env = {**os.environ, "LIFEBOAT_HOME": str(captured.home)}
    command = [sys.executable, "-m", "lifeboat", "restore", "notes", "--at", at]
    command += ["--to", str(target)]
    work_s = time_work(captured.home, command, env)
    whole = _rows(target)

    def reset() -> None:
        target.unlink(missing_ok=True)

    def after_each(killed: bool) -> None:
        if target.exists():
            assert _rows(target) == whole
        else:
            assert killed

    kill_during_work(
        captured.home,
        command,
        env,
        kills=5,
        work_s=work_s,
        seed=11,
        before_each=reset,
        after_each=after_each,
    )
    assert cli_process(captured.home, "status").returncode == 0
    assert not [p for p in target_dir.iterdir() if WORK_RE.match(p.name)]
    assert not _work_files(captured.home)
    reset()


def test_a_drill_checks_a_random_point_and_a_broken_history_fails_it(captured):
    """The drill's record says which point it drilled; a history with a segment that
    cannot be read fails the drill (exit 1), and says why."""
    done = cli_process(captured.home, "drill", "notes", "--json")
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)[0]["checks"]
    points = [c for c in checks if c["point"]]
    assert len(points) == 1 and points[0]["ok"]
    assert points[0]["point"]["commit_seq"] >= 1
    text = cli_process(captured.home, "drill", "notes")
    assert "point of" in text.stdout and "(commit " in text.stdout
    history = captured.home / "snapshots" / "notes" / "history"
    segments = sorted(history.glob("*.seg.zst"), key=lambda p: p.name)
    victim = segments[0]
    kept = victim.read_bytes()
    try:
        victim.write_bytes(kept[:-4] + b"\0\0\0\0")  # its seek table's magic
        failed = cli_process(captured.home, "drill", "notes", "--json")
        assert failed.returncode == 1
        result = json.loads(failed.stdout)[0]
        assert not result["passed"]
        bad = [c for c in result["checks"] if c["point"] and not c["ok"]]
        assert bad and "hole" in bad[0]["problem"]
        refused = cli_process(captured.home, "restore", "notes", "--at", "now", "--to", "x.db")
        assert refused.returncode == 1 and "hole" in refused.stderr
    finally:
        victim.write_bytes(kept)
