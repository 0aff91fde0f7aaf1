"""Service.commits_near: the commits around a moment from the segments' indexes alone
(no page read), each restorable to exactly the rows the writer had right after it."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.service import Service
from lifeboat.service.history import chains_of
from tests.helpers.databases import make_db
from tests.helpers.followed import Followed, follow_with_gap

NAME = "notes"
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def moment(time_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)


@pytest.fixture
def history(home: Path, tmp_path: Path) -> tuple[Service, Path, Followed]:
    db = make_db(tmp_path / "notes.db", rows=30)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    return service, db, follow_with_gap(service, NAME, db)


def test_every_commit_is_listed_with_its_pages_and_flags(history):
    service, _db, followed = history
    commits = service.commits_near(NAME, FAR, before=1000, after=5)
    assert len(commits) == len(followed.states)
    assert [c.time_us for c in commits] == sorted(c.time_us for c in commits)
    assert all(c.pages_changed >= 1 for c in commits)
    gaps = [i for i, c in enumerate(commits) if c.after_gap]
    assert gaps == [followed.gap_at]
    assert not any(c.merged for c in commits), "every commit was read one by one"


def test_before_and_after_count_from_the_moment(history):
    service, _db, _followed = history
    every = service.commits_near(NAME, FAR, before=1000, after=0)
    middle = every[9]
    near = service.commits_near(NAME, moment(middle.time_us), before=3, after=2)
    assert near == every[7:12], "3 at or before it (itself included), 2 after"
    assert service.commits_near(NAME, moment(every[0].time_us - 1), before=3, after=2) == every[:2]
    assert service.commits_near(NAME, FAR, before=0, after=4) == []
    assert service.commits_near(NAME, FAR, before=len(every) + 3, after=0) == every


def test_restoring_a_listed_commit_gives_the_rows_right_after_it(history, tmp_path):
    service, _db, followed = history
    every = service.commits_near(NAME, FAR, before=1000, after=0)
    for i in (0, 5, followed.gap_at, len(every) - 2):
        out = tmp_path / f"at-{i}.db"
        service.restore_point(NAME, moment(every[i].time_us), to=out)
        conn = sqlite3.connect(out)
        try:
            assert (
                frozenset(r[0] for r in conn.execute("select id from items"))
                == (followed.states[i])
            )
        finally:
            conn.close()


def test_pages_are_never_decompressed(history):
    """Listing reads the index frame only. The chain listing (service/history.py) reads
    each segment's header once per process and remembers it by size and modification
    time: damaging the first zstd frame (the header and the first pages) while keeping
    both leaves the commits listed, while reading the pages fails."""
    service, _db, _followed = history
    before = service.commits_near(NAME, FAR, before=1000, after=0)
    (chain,) = chains_of(service.workspace, NAME)
    segment = chain.segments[0].path
    stat = segment.stat()
    data = bytearray(segment.read_bytes())
    data[40] ^= 0xFF  # inside the first zstd frame
    segment.chmod(0o600)
    segment.write_bytes(bytes(data))
    os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert service.commits_near(NAME, FAR, before=1000, after=0) == before
    assert [c.status for c in service.verify_history(NAME)] == ["damaged"]
