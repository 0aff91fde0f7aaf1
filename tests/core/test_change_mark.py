"""The change mark of a database file (core/change_mark.py): read from the header with no
lock, and when a change is due to be captured (table tests on plain data)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.change_mark import ChangeMark, ChangeWatch, MarkReader, mark_of
from tests.helpers.databases import make_db


def mark(counter: int = 1, size: int = 4096, mtime: int = 10) -> ChangeMark:
    return ChangeMark(counter, False, size, mtime)


def test_the_header_says_the_counter_and_the_mode():
    header = bytearray(b"SQLite format 3\x00".ljust(100, b"\0"))
    header[18:20] = b"\x02\x02"
    header[24:28] = (258).to_bytes(4, "big")
    assert mark_of(bytes(header), 8192, 5) == ChangeMark(258, True, 8192, 5)
    header[18:20] = b"\x01\x01"
    found = mark_of(bytes(header), 8192, 5)
    assert found is not None and not found.wal
    assert mark_of(b"not a database".ljust(100), 100, 5) is None
    assert mark_of(bytes(header[:50]), 50, 5) is None


def test_a_reader_sees_each_commit_and_the_mode_switch(tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=5, wal=False)
    reader = MarkReader(db)
    try:
        first = reader.read()
        assert first is not None and not first.wal
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("insert into items(name) values ('x')")
        moved = reader.read()
        assert moved is not None and moved.counter == first.counter + 1
        assert moved.moved_from(first) and not moved.moved_from(moved)
        conn.execute("pragma journal_mode=wal")
        now = reader.read()
        assert now is not None and now.wal
        conn.close()
        db.unlink()
        assert reader.read() is None
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (what happens, at what time) -> is a capture due at the end
        ([("read", mark(), 0.0)], True),  # never captured: the first read captures
        ([("began", mark(), 0.0), ("read", mark(), 5.0)], False),  # no change
        ([("began", mark(), 0.0), ("read", mark(counter=2), 0.5)], False),  # too soon
        ([("began", mark(), 0.0), ("read", mark(counter=2), 1.0)], True),
        ([("began", mark(), 0.0), ("read", mark(size=8192), 1.0)], True),
        ([("began", mark(), 0.0), ("read", mark(mtime=11), 1.0)], True),
        ([("began", mark(), 0.0), ("failed", None, 0.1), ("read", mark(), 0.5)], False),
        ([("began", mark(), 0.0), ("failed", None, 0.1), ("read", mark(), 1.0)], True),
    ],
)
def test_when_a_change_is_due(steps: list[tuple[str, ChangeMark | None, float]], expected: bool):
    watch = ChangeWatch(every_s=1.0)
    due = None
    for what, seen, now in steps:
        if what == "began":
            assert seen is not None
            watch.began(seen, now)
        elif what == "failed":
            watch.failed()
        else:
            assert seen is not None
            due = watch.due(seen, now)
    assert due is expected


def test_ending_a_watch_keeps_the_locks_sqlite_holds_in_this_process(tmp_path: Path):
    """Closing any descriptor of a database drops every POSIX lock this process holds
    on it (sqlite.org/howtocorrupt.html 2.2): a backup reading it in another thread
    would let a writer in. Ending a watch (settings changed, capture stopped) must not."""
    import subprocess
    import sys

    db = make_db(tmp_path / "notes.db", rows=5, wal=False)
    backup = sqlite3.connect(db, isolation_level=None)  # a backup's read, under way
    backup.execute("begin")
    backup.execute("select count(*) from items").fetchone()  # SHARED lock held
    write = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "c.execute(\"insert into items(name) values ('in')\")\n"
    )

    def writer() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", write, str(db)], capture_output=True, text=True, timeout=60
        )

    try:
        assert "locked" in writer().stderr, "the read keeps a writer out"
        reader = MarkReader(db)
        assert reader.read() is not None
        reader.close()
        kept_out = writer()
        assert kept_out.returncode != 0 and "locked" in kept_out.stderr, kept_out
    finally:
        backup.close()
    again = MarkReader(db)  # a watch of the same file later reads it as before
    try:
        assert again.read() is not None
    finally:
        again.close()


def test_a_snapshot_taken_in_this_process_keeps_the_locks_of_a_read_under_way(tmp_path: Path):
    """Taking a snapshot reads the database's header (core/sqlite_file.probe_database)
    while this process may hold SQLite's locks on it (the follower's pinned read, a
    backup in another thread): that read must not drop them."""
    import subprocess
    import sys

    from tests.core.history.helpers import make_capture

    db = make_db(tmp_path / "notes.db", rows=5, wal=False)
    capture = make_capture(tmp_path, db)
    reading = sqlite3.connect(db, isolation_level=None)
    reading.execute("begin")
    reading.execute("select count(*) from items").fetchone()  # SHARED lock held
    write = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "c.execute(\"insert into items(name) values ('in')\")\n"
    )
    try:
        capture.take_base()
        kept_out = subprocess.run(
            [sys.executable, "-c", write, str(db)], capture_output=True, text=True, timeout=60
        )
        assert kept_out.returncode != 0 and "locked" in kept_out.stderr, kept_out
    finally:
        reading.close()
