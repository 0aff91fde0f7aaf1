"""The raw safety copy (core/rawcopy.py, core/raw_hold.py) beside a real app process that
closes its last connection at a random moment of the copy: that close checkpoints the
-wal into the database file and deletes it, unless someone holds a SHARED lock. The copy
is exact (restored, it holds what the app had committed) or says it could not be made so.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifeboat.core.rawcopy import raw_copy_into, save_raw_copy
from lifeboat.core.runs import start_run
from lifeboat.foundation.errors import OperationFailed
from tests.helpers.closing_app import committed_digest

APP = Path(__file__).parents[1] / "helpers" / "closing_app.py"
ROUNDS = 12


def one_round(tmp_path: Path, round_no: int, max_delay: float) -> tuple[str, bool, bool]:
    """('exact' or 'refused', whether the app's close began during the copy, whether its
    -wal was still there after it)."""
    target = tmp_path / f"app{round_no}.db"
    folder = tmp_path / f"snapshots{round_no}"
    folder.mkdir()
    app = subprocess.Popen(
        [sys.executable, str(APP), str(target), str(max_delay), str(round_no)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdin is not None and app.stdout is not None
    try:
        digest = app.stdout.readline().strip()
        assert len(digest) == 64, "the app committed its rows"
        app.stdin.write("go\n")
        app.stdin.flush()
        copy_began = time.monotonic()
        try:
            manifest = save_raw_copy(target, folder, "app", "test", start_run(tmp_path / "run"))
        except OperationFailed as exc:
            assert "no exact copy" in exc.message, exc.message
            outcome = "refused"
        else:
            outcome = "exact"
        copy_ended = time.monotonic()
        closed = app.stdout.readline().split()
        assert closed[0] == "closed"
        assert app.wait(timeout=60) == 0
    finally:
        app.kill()
    if outcome == "exact":
        scratch = tmp_path / f"restored{round_no}"
        scratch.mkdir()
        restored = raw_copy_into(folder, manifest, scratch)
        with sqlite3.connect(restored) as conn:
            assert committed_digest(conn) == digest, "the copy holds what the app committed"
    during = copy_began <= float(closed[1]) <= copy_ended
    return outcome, during, Path(f"{target}-wal").exists()


def copy_seconds(tmp_path: Path) -> float:
    """How long one copy takes here (the app's close is placed at random within it)."""
    app = subprocess.run(
        [sys.executable, str(APP), str(tmp_path / "probe.db"), "0", "99"],
        input="go\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert "closed" in app.stdout
    folder = tmp_path / "probe"
    folder.mkdir()
    began = time.monotonic()
    save_raw_copy(tmp_path / "probe.db", folder, "app", "test", start_run(tmp_path / "run"))
    return time.monotonic() - began


@pytest.mark.skipif(sys.platform != "linux", reason="the app's close is held off on Linux")
def test_the_raw_copy_is_exact_while_the_app_closes_its_last_connection(tmp_path: Path):
    max_delay = 2 * copy_seconds(tmp_path)
    results = [one_round(tmp_path, n, max_delay) for n in range(ROUNDS)]
    assert all(outcome == "exact" for outcome, _, _ in results), results
    during = [wal_kept for _, began_during, wal_kept in results if began_during]
    assert during, f"no close fell within a copy: {results}"
    # a close while the files were held could not lock the database exclusively: it
    # left the -wal (a close just before or after the locks removes it)
    assert any(during), results
