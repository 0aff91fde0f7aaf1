"""Restore of seekable artifacts as a user meets it (the CLI as a process): a damaged frame
is named as damage and nothing is written; a large database is restored, to a new file
and in place, in bounded memory (the process's peak RSS, as its kernel counted it, stays
far below the database's size: nothing maps or reads the whole file at once)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.seekable import seek_entries
from tests.conftest import cli_process
from tests.helpers.databases import content_digest, integrity, make_db

#: the database of the memory test: 256 MiB of pages
BIG_PAGES = 65536
#: a restore's peak RSS may be the interpreter and its libraries (~80 MB) with working
#: buffers, never the database: before the bound, a restore of this database took ~340 MB
RSS_BOUND_KB = 200 * 1024


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _backup(home: Path, db: Path) -> dict[str, object]:
    _ok(cli_process(home, "source", "add", str(db), "--name", "notes"))
    snap: dict[str, object] = json.loads(_ok(cli_process(home, "backup", "notes", "--json")).stdout)
    return snap


def test_a_damaged_frame_is_named_as_damage_and_nothing_is_written(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=3000, payload=800)
    snap = _backup(home, db)
    artifact = Path(str(snap["path"]))
    entries = seek_entries(artifact)
    assert entries is not None and len(entries) > 8
    data = bytearray(artifact.read_bytes())
    data[sum(e.compressed for e in entries[:5]) + 60] ^= 0x20  # inside frame 5
    os.chmod(artifact, 0o600)
    artifact.write_bytes(bytes(data))
    target = tmp_path / "restored.db"
    result = cli_process(home, "restore", str(snap["id"]), "--to", str(target), "--yes")
    assert result.returncode == 1, result.stderr
    assert "damaged" in result.stderr and "frame 5" in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.lexists(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "home",
        "notes.db",
        "notes.db-shm",
        "notes.db-wal",
    ]


def _big_database(path: Path) -> Path:
    """A database of BIG_PAGES pages, made in SQLite (fast): rows of a random head and
    zeros, so it compresses quickly but every page must still be written and checked."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table blobs(id integer primary key, data blob)")
    conn.execute(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < ?) "
        "insert into blobs(data) select cast(randomblob(300) || zeroblob(3600) as blob) from n",
        (BIG_PAGES,),
    )
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return path


#: The CLI run in a process that then reports its own peak RSS (VmHWM: the high-water
#: mark of its memory since it started, mapped file pages included). Not ru_maxrss as its
#: parent sees it: that counts the image of the parent it was forked from (the test
#: process, hundreds of MB late in a run) as the child's own.
PEAK_REPORTER = """
import sys
from lifeboat.cli.main import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print("peak-kb", peak, file=sys.stderr)
sys.exit(code)
"""


def _peak_rss_kb(home: Path, *args: str) -> int:
    """Run the CLI as a process; its peak RSS in KB, as its kernel counted it."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_REPORTER, *args],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split("peak-kb")[-1].split()[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_large_database_restores_in_bounded_memory(home: Path, tmp_path: Path):
    db = _big_database(tmp_path / "big.db")
    assert db.stat().st_size >= BIG_PAGES * 4096
    expected = content_digest(db)
    snap = _backup(home, db)
    target = tmp_path / "restored.db"
    to_kb = _peak_rss_kb(home, "restore", str(snap["id"]), "--to", str(target), "--yes")
    assert content_digest(target) == expected and integrity(target) == "ok"
    assert to_kb < RSS_BOUND_KB, f"restore --to peaked at {to_kb // 1024} MB"
    conn = sqlite3.connect(db)
    conn.execute("delete from blobs where id % 2 = 0")  # a change for the restore to undo
    conn.commit()
    conn.close()
    in_place_kb = _peak_rss_kb(home, "restore", str(snap["id"]), "--yes")
    assert content_digest(db) == expected and integrity(db) == "ok"
    assert in_place_kb < RSS_BOUND_KB, f"restore in place peaked at {in_place_kb // 1024} MB"
