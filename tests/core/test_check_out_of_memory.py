"""A check SQLite cannot finish for lack of memory says so in one line and calls nothing
damaged (core/dbcheck.py). SQLite's heap limit is set for real, in a child process:
`pragma hard_heap_limit` is process-wide and can only be lowered, never lifted, so it
would cripple every later test of this one. The check then meets SQLITE_NOMEM, which
Python's sqlite3 raises as MemoryError."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.dbcheck import check_database

_CHILD = """
import json, sqlite3, sys
from pathlib import Path
from lifeboat.core.dbcheck import check_database, check_tables
from lifeboat.core.sqlite_file import open_copy
from lifeboat.foundation.errors import OperationFailed
db, mode, tables = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
conn = open_copy(db) if tables else None
sqlite3.connect(":memory:").execute("pragma hard_heap_limit=200000")
try:
    result = check_tables(conn, mode, tables, db) if conn else check_database(db, mode)
    print(json.dumps({"result": [result.ok, list(result.problems)]}))
except OperationFailed as exc:
    print(json.dumps({"message": exc.message, "hint": exc.hint}))
"""


def _database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("create table t(x text)")
    conn.execute("create index t_x on t(x)")
    conn.executemany("insert into t values (?)", ((f"{i:06d}" + "x" * 400,) for i in range(20000)))
    conn.commit()
    conn.close()
    return path


def _checked_short_of_memory(db: Path, mode: str, *tables: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), mode, *tables],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr  # no traceback, no crash
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_a_whole_check_out_of_memory_says_so_and_calls_nothing_damaged(tmp_path: Path, mode):
    db = _database(tmp_path / "big.db")
    said = _checked_short_of_memory(db, mode)
    assert "ran out of memory" in str(said["message"])
    assert "damaged" not in str(said["message"]) and said["hint"]
    assert check_database(db, mode).ok  # with memory, the same file passes


def test_a_check_of_some_tables_out_of_memory_says_so(tmp_path: Path):
    db = _database(tmp_path / "big.db")
    said = _checked_short_of_memory(db, "quick", "t")
    assert "ran out of memory" in str(said["message"])
