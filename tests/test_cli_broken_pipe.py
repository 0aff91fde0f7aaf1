"""Output piped into a reader that leaves early (`lifeboat query … | head`): Lifeboat stops
quietly, as Unix tools do; no "unexpected error", no traceback in its log. Real CLI
process, real pipe, real snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_process
from tests.helpers.databases import make_db


def test_a_reader_that_leaves_early_gets_no_error(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=4000, payload=200)
    assert cli_process(home, "source", "add", str(db), "--name", "notes").returncode == 0
    assert cli_process(home, "backup", "notes").returncode == 0
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "query", "notes", "select * from items", "--csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)  # the first lines, as `head` reads them
    proc.stdout.close()  # the reader leaves; well over a pipe's buffer is still to come
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
    log = (home / "logs" / "lifeboat.log").read_text() if (home / "logs").is_dir() else ""
    assert "Traceback" not in log and "unexpected error" not in log
