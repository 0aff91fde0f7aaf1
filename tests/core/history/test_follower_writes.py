"""When the follower writes what it took: level-0 segments at most every `write_every_s`
(the oldest commit waiting decides), everything on close; a kill loses only that."""

from __future__ import annotations

import sqlite3

from tests.core.history.helpers import make_capture


class Clock:
    def __init__(self) -> None:
        self.us = 1_700_000_000_000_000

    def __call__(self) -> int:
        return self.us


def _app(path):  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    return conn


def test_commits_wait_for_the_write_interval_then_one_segment_holds_them(tmp_path):
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    clock = Clock()
    follower = capture.follower(write_every_s=0.5, clock=clock)
    follower.start()
    written = follower.status.segments
    for k in range(3):
        conn.execute("insert into items values (?, ?)", (k, b"x" * 50))
        clock.us += 100_000
        assert follower.poll() == 1
    assert follower.status.segments == written  # 0.3 s: still waiting
    assert follower.status.last_read_us == clock.us
    clock.us += 300_000  # the oldest waited 0.5 s: the next poll writes, changed or not
    assert follower.poll() == 0
    assert follower.status.segments == written + 1
    (segment,) = [s for s in capture.chain(follower.status.chain or "") if s.commits == 3]
    assert segment.last_time_us == follower.status.last_capture_us
    conn.execute("insert into items values (9, x'00')")
    follower.poll()
    follower.close()  # what waits is written on close
    assert follower.status.segments == written + 2
    point = capture.point(follower.status.chain or "", clock.us)
    assert point is not None
    restored = capture.restore(follower.status.chain or "", clock.us, "last.db")
    check = sqlite3.connect(restored)
    assert [r[0] for r in check.execute("select id from items order by id")] == [0, 1, 2, 9]
    check.close()
    conn.close()


def test_a_follower_that_writes_at_once(tmp_path):
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    follower = capture.follower(write_every_s=0.0)
    follower.start()
    written = follower.status.segments
    conn.execute("insert into items values (1, x'01')")
    follower.poll()
    assert follower.status.segments == written + 1
    follower.close()
    conn.close()


def test_closing_a_follower_keeps_the_locks_sqlite_holds_in_this_process(tmp_path):
    """Closing a descriptor of the database drops every POSIX lock this process holds
    on it (sqlite.org/howtocorrupt.html 2.2): with a backup reading it in another
    thread, another process could switch it out of WAL (checkpoint, WAL removed) under
    that read. Closing the follower (a pause, a failure, settings changed) must not."""
    import subprocess
    import sys

    db = tmp_path / "app.db"
    conn = _app(db)
    conn.execute("insert into items values (1, x'00')")
    conn.close()
    capture = make_capture(tmp_path, db)
    follower = capture.follower(clock=Clock())
    follower.start()
    backup = sqlite3.connect(db, isolation_level=None)  # a backup's read, under way
    backup.execute("begin")
    backup.execute("select count(*) from items").fetchone()
    switch = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "c.execute('pragma journal_mode=delete').fetchone()\n"
    )

    def switched_out_of_wal() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", switch, str(db)], capture_output=True, text=True, timeout=60
        )

    try:
        assert "locked" in switched_out_of_wal().stderr, "the read keeps it in WAL"
        follower.close()
        kept = switched_out_of_wal()
        assert kept.returncode != 0 and "locked" in kept.stderr, kept
    finally:
        backup.close()
