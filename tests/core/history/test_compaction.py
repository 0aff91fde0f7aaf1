"""Compaction keeps every commit; thinning keeps each window's last state; both replace
files safely (the new segment first, a killed run leaves nothing a reader double-counts)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from lifeboat.core.history.chain import describe, effective, list_segments
from lifeboat.core.history.compaction import (
    FLAG_THINNED,
    compact_level0,
    remove_covered,
    thin,
)
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.history.windows import parse_windows
from tests.core.history.helpers import SOURCE, Capture, make_capture

H = 3_600_000_000


class Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def _app(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    return conn


def _history(tmp_path: Path, polls: int, step_us: int, **kwargs: object):  # type: ignore[no-untyped-def]
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    clock = Clock(1_800_000_000_000_000)
    follower = capture.follower(clock=clock, **kwargs)
    follower.start()
    times = []
    for k in range(polls):
        clock.now += step_us
        conn.execute("insert into items(v) values (?)", (bytes([k % 256]) * 2000,))
        if k % 4 == 0:
            conn.execute("update items set v = ? where id = 1", (bytes([k % 256]) * 500,))
        follower.poll()
        times.append(clock.now)
    follower.close()
    conn.close()
    return capture, follower.status.chain, times, clock


def _sha_at(capture: Capture, base: str, at: int, name: str) -> str:
    return hashlib.sha256(capture.restore(base, at, name).read_bytes()).hexdigest()


def test_compaction_keeps_every_commit_and_replaces_safely(tmp_path):
    capture, base, times, _ = _history(tmp_path, 12, 1_000_000, compact_files=1000)
    listing = list_segments(capture.folder, SOURCE).segments
    level0 = [s for s in listing if s.level == 0]
    assert len(level0) >= 12
    before = {t: _sha_at(capture, base, t, f"before-{t}.db") for t in times}
    aside = tmp_path / "aside"
    aside.mkdir()
    for segment in level0:
        shutil.copy2(segment.path, aside / segment.path.name)
    joined = compact_level0(capture.folder, SOURCE, level0, capture.run)
    assert joined.level == 1 and joined.commits == sum(s.commits for s in level0)
    assert joined == describe(joined.path)  # what it wrote is what reading it says
    assert not any(s.path.exists() for s in level0)
    assert joined.path.with_name(joined.path.name.removesuffix(".seg.zst") + ".json").exists()
    after = {t: _sha_at(capture, base, t, f"after-{t}.db") for t in times}
    assert after == before
    # A run killed between publishing the level-1 segment and removing the level-0 ones:
    for copy in aside.iterdir():
        shutil.copy2(copy, capture.folder / copy.name)
    listing = list_segments(capture.folder, SOURCE).segments
    assert [s.path for s in effective(listing)] == [joined.path]
    assert {t: _sha_at(capture, base, t, f"again-{t}.db") for t in times} == before
    removed = remove_covered(capture.folder, listing)
    assert sorted(p.name for p in removed) == sorted(p.name for p in aside.iterdir())
    assert [s.path for s in list_segments(capture.folder, SOURCE).segments] == [joined.path]


def test_the_follower_compacts_on_its_own(tmp_path):
    capture, base, times, _ = _history(tmp_path, 14, 1_000_000, compact_files=4)
    listing = list_segments(capture.folder, SOURCE).segments
    assert any(s.level == 1 for s in listing)
    assert len([s for s in listing if s.level == 0]) <= 4
    for t in times[::3]:
        assert capture.point(base, t) is not None


def test_thinning_keeps_each_windows_last_state(tmp_path):
    # 40 polls 15 minutes apart: 10 hours of history.
    capture, base, times, clock = _history(
        tmp_path, 40, H // 4, compact_files=1000, compact_every_s=1e9
    )
    listing = list_segments(capture.folder, SOURCE).segments
    level1 = compact_level0(
        capture.folder, SOURCE, [s for s in listing if s.level == 0], capture.run
    )
    policy = parse_windows("2h all, 1d hourly")
    before = {t: _sha_at(capture, base, t, f"b-{t}.db") for t in times}
    result = thin(capture.folder, SOURCE, [level1], policy, clock.now, capture.run)
    assert result.written is not None and result.commits_after < result.commits_before
    assert result.written == describe(result.written.path)
    assert not level1.path.exists()
    assert not level1.path.with_name(level1.path.name.replace(".seg.zst", ".json")).exists()
    with SegmentReader(result.written.path) as reader:
        reader.verify()
        kept = {c.time_us: c for c in reader.commits}
    assert any(c.flags & FLAG_THINNED for c in kept.values())
    for t in times:
        if t in kept:  # a kept point rebuilds exactly as before
            assert _sha_at(capture, base, t, f"a-{t}.db") == before[t]
        elif clock.now - t <= 2 * H:
            raise AssertionError("a commit of the last two hours was thinned away")
    # Every point now resolves to the last kept commit at or before it (before the
    # first kept one there is only the base snapshot itself).
    for t in times:
        point = capture.point(base, t)
        earlier = [k for k in kept if k <= t]
        assert (point.time_us if point else None) == (max(earlier) if earlier else None)


def test_small_level1_files_are_joined_every_commit_kept(tmp_path):
    """A follower compacting at every poll makes one level-1 file per poll; once 32
    small ones wait they become one, and every point still rebuilds the same."""
    from lifeboat.core.history.compaction import JOIN_AT

    polls = 2 * JOIN_AT + 10  # a level-1 file holds two polls: compaction waits for two
    capture, base, times, _ = _history(
        tmp_path, polls, 1_000_000, compact_every_s=0, write_every_s=0
    )
    listing = list_segments(capture.folder, SOURCE).segments
    used = effective(listing)
    assert len(listing) == len(used), "nothing covered is left behind"
    level1 = [s for s in used if s.level == 1]
    assert len(level1) < JOIN_AT, [s.commits for s in level1]
    assert max(s.commits for s in level1) >= JOIN_AT, "the joined one holds 32 polls' commits"
    assert sum(s.commits for s in used) >= polls
    for t in times[:: JOIN_AT // 4]:
        point = capture.restore(base, t, f"p-{t}.db")
        conn = sqlite3.connect(point)
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        conn.close()


def test_a_big_level1_file_between_small_ones_is_left_and_the_rest_joined(tmp_path, monkeypatch):
    """A burst (an import) makes one level-1 file past JOIN_BELOW between small ones:
    the small ones on either side are joined separately (each run of consecutive
    ones), never across it, and the follower goes on capturing every commit."""
    import os

    from lifeboat.core.history import compaction

    monkeypatch.setattr(compaction, "JOIN_BELOW", 64 << 10)
    db = tmp_path / "app.db"
    conn = _app(db)
    capture = make_capture(tmp_path, db)
    clock = Clock(1_800_000_000_000_000)
    follower = capture.follower(clock=clock, compact_every_s=0, write_every_s=0)
    follower.start()
    polls = 2 * compaction.JOIN_AT + 12
    times = []
    for k in range(polls):
        clock.now += 1_000_000
        blob = os.urandom(256 << 10) if k == 4 else bytes([k % 256]) * 2000
        conn.execute("insert into items(v) values (?)", (blob,))
        follower.poll()
        times.append(clock.now)
    follower.close()
    conn.close()
    base = follower.status.chain
    used = effective(list_segments(capture.folder, SOURCE).segments)
    big = [s for s in used if s.level == 1 and s.size >= compaction.JOIN_BELOW]
    assert len(big) == 1
    assert len([s for s in used if s.level == 1]) < compaction.JOIN_AT, "the rest joined"
    assert sum(s.commits for s in used) >= polls
    for t in (times[0], times[4], times[-1]):
        point = capture.restore(base, t, f"p-{t}.db")
        check = sqlite3.connect(point)
        assert check.execute("pragma integrity_check").fetchone() == ("ok",)
        check.close()
