"""The live state read from the files, and the hold a catch-up falls back to when an app
restarts its WAL faster than the file can be read."""

from __future__ import annotations

import os
import sqlite3

from lifeboat.core.history.livestate import holding_the_wal, read_live_state_settled, wal_path
from lifeboat.core.history.pagestate import PageState
from lifeboat.core.history.wal import parse_header


def _app(path):  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma wal_autocheckpoint=0")  # the test checkpoints when it says so
    conn.execute("create table items(id integer primary key, v blob)")
    return conn


def _salt(db) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    with open(wal_path(db), "rb") as fh:
        header = parse_header(fh.read(32))
    return header.salt if header is not None else None


def test_while_held_the_wal_restarts_at_most_once(tmp_path):
    """An app committing and checkpointing (as its autocheckpoint does) between every
    commit: without the hold its WAL restarts every time; while we hold it, at most once."""
    db = tmp_path / "app.db"
    conn = _app(db)
    salts = set()
    for k in range(5):
        conn.execute("insert into items values (?, ?)", (k, os.urandom(200)))
        conn.execute("pragma wal_checkpoint(PASSIVE)").fetchone()
        salts.add(_salt(db))
    assert len(salts) >= 4  # unheld: a new generation nearly every commit
    held = set()
    with holding_the_wal(db, busy_timeout=5):
        for k in range(5, 40):
            conn.execute("insert into items values (?, ?)", (k, os.urandom(200)))
            conn.execute("pragma wal_checkpoint(PASSIVE)").fetchone()
            held.add(_salt(db))
    assert len(held) <= 2
    conn.close()


def test_a_settled_read_is_the_apps_state(tmp_path):
    db = tmp_path / "app.db"
    conn = _app(db)
    for k in range(50):
        conn.execute("insert into items values (?, ?)", (k, os.urandom(300)))
    fd = os.open(db, os.O_RDONLY)
    try:
        empty = PageState(4096, b"", 0)
        live, held = read_live_state_settled(fd, db, empty, busy_timeout=5)
    finally:
        os.close(fd)
    assert not held  # nothing restarted the WAL: no hold was needed
    rebuilt = tmp_path / "rebuilt.db"
    with open(rebuilt, "wb") as out:
        for number in range(1, live.page_count + 1):
            out.write(live.changed.get(number, bytes(live.page_size)))
    page_one = bytearray(rebuilt.read_bytes()[:100])
    page_one[18:20] = b"\x01\x01"  # a standalone file: not WAL mode
    with open(rebuilt, "r+b") as out:
        out.write(page_one)
    copy = sqlite3.connect(rebuilt)
    got = copy.execute("select id, v from items order by id").fetchall()
    copy.close()
    assert got == conn.execute("select id, v from items order by id").fetchall()
    conn.close()
