"""In place by renaming over a WAL database nobody has open (core/restore_swap.py): the
file keeps its identity and WAL mode and nothing is left beside it; a cancel before the
rename changes nothing; a program that opened the old file without reading it yet reads
the old content whole afterwards and cannot write it, and never touches the new file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.restore_swap import swap_possible
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.progress import CancelToken
from lifeboat.service import Service
from tests.helpers.databases import db_content, integrity, make_db


def change(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("update items set name = 'changed' where id % 2 = 0")
    conn.execute("create table extra(x)")
    conn.commit()
    conn.close()


def journal_mode(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("pragma journal_mode").fetchone()[0])
    finally:
        conn.close()


def beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def test_a_wal_database_nobody_has_open_is_renamed_over_keeping_its_identity(
    service: Service, tmp_path: Path
):
    folder = tmp_path / "data"
    folder.mkdir()
    db = make_db(folder / "notes.db", rows=2000, payload=300)
    service.add_source(db)
    snap = service.backup("notes")
    original = db_content(db)
    change(db)
    os.chmod(db, 0o640)
    xattr = hasattr(os, "setxattr")
    if xattr:
        try:
            os.setxattr(db, "user.lifeboat-test", b"kept")
        except OSError:  # a file system without user attributes
            xattr = False
    inode = db.stat().st_ino
    assert swap_possible(db, 0)
    result = service.restore(snap.id)
    assert result.method == "file-swap"
    assert beside(db) == ["notes.db"], "no work file or old sidecar is left beside it"
    assert db.stat().st_ino != inode, "renamed over, not rewritten"
    assert db_content(db) == original and integrity(db) == "ok"
    assert journal_mode(db) == "wal", "it stays a WAL database"
    assert db.stat().st_mode & 0o777 == 0o640
    if xattr:
        assert os.getxattr(db, "user.lifeboat-test") == b"kept"


def test_a_cancel_before_the_rename_changes_nothing(service: Service, tmp_path: Path):
    folder = tmp_path / "data"
    folder.mkdir()
    db = make_db(folder / "notes.db", rows=20_000, payload=400)
    service.add_source(db)
    snap = service.backup("notes")
    change(db)
    changed = db_content(db)
    cancel = CancelToken()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "decompress" and done:
            cancel.cancel()

    with pytest.raises(Cancelled):
        service.restore(snap.id, progress=progress, cancel=cancel)
    assert db_content(db) == changed and integrity(db) == "ok"
    assert journal_mode(db) == "wal"
    assert not [n for n in beside(db) if n.startswith(".lb-")], "its work file is removed"


OPENER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)  # opened, not read
print("open", flush=True)
sys.stdin.readline()
rows = conn.execute("select count(*) from items where name = 'changed'").fetchone()[0]
print(rows, flush=True)
try:
    conn.execute("insert into items(name) values ('late write')")
    print("written", flush=True)
except sqlite3.Error as exc:
    print("refused:", exc, flush=True)
"""


def test_a_program_that_opened_the_old_file_without_reading_it_never_mixes(
    service: Service, tmp_path: Path
):
    folder = tmp_path / "data"
    folder.mkdir()
    db = make_db(folder / "notes.db", rows=500)
    service.add_source(db)
    snap = service.backup("notes")
    original = db_content(db)
    change(db)
    changed_rows = sum(1 for row in db_content(db)["items"] if row[1] == "changed")
    opener = subprocess.Popen(
        [sys.executable, "-c", OPENER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert opener.stdout is not None and opener.stdin is not None
        assert opener.stdout.readline().strip() == "open"
        # It holds no lock yet: nothing can tell it is there, so the file is renamed over.
        assert service.restore(snap.id).method == "file-swap"
        opener.stdin.write("\n")
        opener.stdin.flush()
        # It reads the old file, whole (every change is there)...
        assert opener.stdout.readline().strip() == str(changed_rows)
        # ...and SQLite refuses to write a file that is no longer in the folder.
        assert opener.stdout.readline().startswith("refused:")
    finally:
        if opener.stdin is not None:
            opener.stdin.close()
        opener.wait(timeout=30)
    assert db_content(db) == original and integrity(db) == "ok"
    assert not [n for n in beside(db) if n.endswith("-journal")]


READ_ONCE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0.2)
try:
    print(conn.execute("select count(*) from items").fetchone()[0], flush=True)
except sqlite3.Error as exc:
    print("refused:", exc, flush=True)
"""


def read_elsewhere(db: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", READ_ONCE, str(db)], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def test_while_held_nobody_else_reads_and_a_failure_puts_wal_back(tmp_path: Path):
    from lifeboat.core.restore_swap import held_alone

    db = make_db(tmp_path / "notes.db", rows=300)
    before = db_content(db)
    with pytest.raises(RuntimeError, match="the rename failed"), held_alone(db) as alone:
        assert alone
        assert read_elsewhere(db).startswith("refused:"), "held exclusively"
        raise RuntimeError("the rename failed")
    assert journal_mode(db) == "wal" and db_content(db) == before
    assert read_elsewhere(db) == "300"


def test_a_connection_open_elsewhere_is_seen(tmp_path: Path):
    from lifeboat.core.restore_swap import held_alone

    db = make_db(tmp_path / "notes.db", rows=300)
    reader = subprocess.Popen(
        [sys.executable, "-c", READ_ONCE + "\nsys.stdin.readline()\n", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "300"  # it has read, and stays open
        with held_alone(db) as alone:
            assert not alone
        assert journal_mode(db) == "wal"
    finally:
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=30)


def test_only_a_wal_database_with_one_name_and_room_beside_it_may_be_swapped(tmp_path: Path):
    wal = make_db(tmp_path / "wal.db", rows=10)
    rollback = make_db(tmp_path / "rollback.db", rows=10, wal=False)
    linked = make_db(tmp_path / "linked.db", rows=10)
    os.link(linked, tmp_path / "other-name.db")
    assert swap_possible(wal, 0)
    assert not swap_possible(rollback, 0), "idle connections to it could not be seen"
    assert not swap_possible(linked, 0), "the other name would keep the old content"
    assert not swap_possible(tmp_path / "missing.db", 0)
    assert not swap_possible(wal, 1 << 60), "no room for the copy beside it"
