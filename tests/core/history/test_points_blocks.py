"""Rebuilding points across the rebuild's blocks (core/history/rebuild.py writes the
base 256 pages at a time and patches each block): page 1 patched, patches on both sides
of a block's edge, a database that grew by several blocks past its base (the last one
partial), shrank below its base, then grew again (the base's pages past the shrink must
not come back). Every point is compared byte for byte with the database as it was."""

from __future__ import annotations

import dataclasses
import os
import sqlite3

import pytest

from lifeboat.core.history.bases import base_pages, base_state
from lifeboat.core.history.chain import describe, write_segment
from lifeboat.core.history.points import rebuild_point, resolve_point
from lifeboat.core.history.rebuild import build_map, open_segments
from lifeboat.core.history.segment import CommitRecord, SegmentHeader
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.history.helpers import make_capture

_ROW = 3000  # one row a page (4 KiB pages)


class Clock:
    def __init__(self) -> None:
        self.us = 1_700_000_000_000_000

    def __call__(self) -> int:
        return self.us


def _as_restored(db, conn):  # type: ignore[no-untyped-def]
    """The database's bytes now, as a restore writes them (standalone header)."""
    conn.execute("pragma wal_checkpoint(truncate)")
    data = bytearray(db.read_bytes())
    data[18:20] = b"\x01\x01"
    return bytes(data)


def test_points_across_blocks_growth_and_shrink_rebuild_exactly(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(1, 601)]
    )
    conn.execute("pragma wal_checkpoint(truncate)")
    base_pages = db.stat().st_size // 4096
    assert base_pages > 2 * 256  # the base spans three blocks
    capture = make_capture(tmp_path, db)
    clock = Clock()
    follower = capture.follower(clock=clock)
    follower.start()
    chain = follower.status.chain
    assert chain is not None
    expected = {}

    def step(*statements: str) -> None:
        for sql in statements:
            conn.execute(sql)
        clock.us += 1_000_000
        follower.poll()
        expected[clock.us] = _as_restored(db, conn)

    # Page 1 (the schema) and rows on both sides of the first block edges.
    step(
        "create table notes(t text)",
        "update items set v = randomblob(3000) where id in (1, 250, 251, 252, 253, 254, 255)",
        "update items set v = randomblob(3000) where id between 505 and 515",
    )
    # Grown by more than two blocks past the base's end; the last block partial.
    step(f"insert into items(v) select randomblob({_ROW}) from items where id <= 700")
    assert db.stat().st_size // 4096 > base_pages + 2 * 256
    # Shrunk below the base; then grown again a little (new pages, never the base's).
    step("delete from items where id > 200", "vacuum")
    shrunk = db.stat().st_size // 4096
    assert shrunk < base_pages - 256
    step(f"insert into items(v) select randomblob({_ROW}) from items where id <= 150")
    assert shrunk < db.stat().st_size // 4096 < base_pages
    step("update items set v = randomblob(10) where id = 3")

    for number, (at_us, want) in enumerate(expected.items()):
        point = capture.point(chain, at_us)
        assert point is not None and point.time_us == at_us
        rebuilt = rebuild_point(point, tmp_path / f"p{number}.db", capture.run, capture.scratch)
        assert rebuilt.path.read_bytes() == want, f"point {number}"
        with open_segments(point) as readers:
            assert rebuilt.pages_from_segments == len(build_map(point, readers).listed)
    follower.close()


def test_pages_past_a_shrink_that_no_later_commit_wrote_are_zeros(tmp_path):
    """A commit cut the database to 100 pages, the next one left 700 pages writing only
    the last: pages 101-699 read as zeros (SQLite's view), not as the base's pages."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(1, 601)]
    )
    conn.close()
    capture = make_capture(tmp_path, db)
    base = capture.take_base()
    state = base_state(base, capture.run, capture.scratch)
    with base_pages(base, capture.run, capture.scratch) as pages:
        original = b"".join(bytes(page) for page in pages)
    assert state.page_count > 600
    first = CommitRecord(1, 1_000, 100, 0, {2: b"\x02" * 4096})
    last = CommitRecord(2, 2_000, 700, 0, {700: b"\x07" * 4096})
    previous = state.digest()
    for commit in (first, last):
        state.apply(commit.pages, commit.page_count)
    header = SegmentHeader(4096, base.id, base.manifest.sha256, 1, previous, 1, 2)
    path, _ = write_segment(
        capture.folder, capture.run, "notes", header, [first, last], state.digest()
    )
    point = resolve_point(base, [describe(path)], 2_000)
    assert point is not None and point.end_digest == state.digest()
    rebuilt = rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch)
    page = 4096
    want = (
        original[:page]
        + b"\x02" * page
        + original[2 * page : 100 * page]
        + bytes(599 * page)
        + b"\x07" * page
    )
    assert rebuilt.path.read_bytes() == want


def test_a_base_that_does_not_match_its_manifest_fails_the_rebuild(tmp_path):
    """A base whose file decompresses but whose SHA-256 (computed aside while it is read)
    is not its manifest's: the rebuild fails and leaves nothing."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany("insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(300)])
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    conn.execute("insert into items(v) values (randomblob(3000))")
    follower.poll()
    chain, last = follower.status.chain, follower.status.last_capture_us
    assert chain is not None and last is not None
    point = capture.point(chain, last)
    assert point is not None
    rebuild_point(point, tmp_path / "fine.db", capture.run, capture.scratch)  # as it is: fine
    manifest = dataclasses.replace(point.base.manifest, sha256="0" * 64)
    other = dataclasses.replace(point, base=dataclasses.replace(point.base, manifest=manifest))
    with pytest.raises(CorruptSnapshot, match="does not match its manifest"):
        rebuild_point(other, tmp_path / "new.db", capture.run, capture.scratch)
    assert not (tmp_path / "new.db").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lb-")]
    follower.close()
