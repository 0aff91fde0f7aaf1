"""Rebuilding points: exactly the captured database, in bounded memory, safely written."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from lifeboat.core.history.points import rebuild_point
from tests.core.history.helpers import make_capture


def _app(db):  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.execute("insert into items(v) values (randomblob(1000))")
    return conn


def test_the_last_point_is_the_checkpointed_file_byte_for_byte(tmp_path):
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for k in range(200):
        conn.execute("insert into items(v) values (randomblob(?))", (100 + k * 13 % 3000,))
        if k % 7 == 0:
            conn.execute("delete from items where id % 5 = ?", (k % 5,))
        if k % 10 == 0:
            follower.poll()
    conn.execute("vacuum")  # shrinks the file: pages cut off at the end
    conn.execute("insert into items(v) values (randomblob(50))")
    follower.poll()
    last = follower.status.last_capture_us
    assert last is not None and follower.status.chain is not None
    conn.execute("pragma wal_checkpoint(truncate)")
    live = bytearray(db.read_bytes())
    live[18:20] = b"\x01\x01"  # a restored file is standalone (journal mode DELETE)
    restored = capture.restore(follower.status.chain, last, "restored.db")
    assert restored.read_bytes() == bytes(live)
    assert stat.S_IMODE(os.stat(restored).st_mode) == 0o600
    check = sqlite3.connect(restored)
    assert check.execute("pragma journal_mode").fetchone()[0] == "delete"
    assert check.execute("pragma integrity_check").fetchone()[0] == "ok"
    check.close()
    follower.close()


def test_a_point_is_never_written_over_a_file_and_leaves_nothing_on_failure(tmp_path):
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    conn.execute("insert into items(v) values (randomblob(3000))")
    follower.poll()
    base = follower.status.chain
    assert base is not None and follower.status.last_capture_us is not None
    point = capture.point(base, follower.status.last_capture_us)
    assert point is not None
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        rebuild_point(point, taken, capture.run, capture.scratch)
    assert taken.read_bytes() == b"mine"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lb-")]
    # A segment damaged on disk: the rebuild fails and leaves nothing.
    segment = point.segments[-1].path
    data = bytearray(segment.read_bytes())
    data[len(data) // 3] ^= 0xFF
    segment.write_bytes(data)
    with pytest.raises(Exception):  # noqa: B017 - CorruptSnapshot or SegmentDamaged
        rebuild_point(point, tmp_path / "new.db", capture.run, capture.scratch)
    assert not (tmp_path / "new.db").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lb-")]
    follower.close()
