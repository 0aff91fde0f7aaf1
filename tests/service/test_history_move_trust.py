"""A move of the snapshots carries the deletions already decided in the old folders
(core/history/folder_move.py, service/snapshot_moves.py): a segment or snapshot whose
deletion was decided (its tombstone `.<stem>.deleting`, as a run killed in the middle of
removing it leaves) is finished, never copied to the new folder to come back there, and
nothing else is removed."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from lifeboat.core.fsutil import FileLock
from lifeboat.core.history.chain import MANIFEST_SUFFIX, stem_of, write_segment_manifest
from lifeboat.core.history.compaction import compact_level0, join_segments
from lifeboat.core.history.folder_lock import HistoryBusy, HistoryMoved, changing
from lifeboat.core.leftovers import TOMBSTONE_SUFFIX
from lifeboat.core.workspace import FOLDER_LOCK_NAME
from lifeboat.service import Service
from lifeboat.service.history import chains_of
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until
from tests.service.test_continuous_history import NAME, _rows_at_tip

ROWS = range(1000, 1006)


def _capture_level0(service: Service, db: Path) -> set[int]:
    """Six commits, each its own level-0 segment (no compaction yet)."""
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for row in ROWS:
            writer.execute("insert into items(id, name, payload) values (?, 'x', x'00')", (row,))
            follower.poll()
        follower.close()
        return {r[0] for r in writer.execute("select id from items")}
    finally:
        writer.close()


def _killed_join(service: Service) -> Path:
    """The state a join of level-1 segments killed part way leaves: two level-1 segments
    (each compacted from three level-0 ones), the level-1 segment joining them published,
    and the first one's manifest already become its tombstone (the first step of
    removing it), the segment itself not yet gone. Returns that segment."""
    (chain,) = chains_of(service.workspace, NAME)
    level0 = sorted(chain.segments, key=lambda s: s.first_seq)
    assert len(level0) == len(ROWS) and {s.level for s in level0} == {0}
    folder = level0[0].path.parent
    ws = service.workspace
    level1 = [compact_level0(folder, NAME, part, ws.run) for part in (level0[:3], level0[3:])]
    path, header, written = join_segments(folder, NAME, level1, ws.run)
    write_segment_manifest(path, NAME, header, written, 1, ws.run)
    doomed = level1[0].path
    stem = stem_of(doomed.name)
    os.replace(folder / (stem + MANIFEST_SUFFIX), folder / f".{stem}{TOMBSTONE_SUFFIX}")
    return doomed


def test_a_segment_whose_removal_was_decided_is_not_brought_back_by_a_move(
    home: Path, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=30)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    rows = _capture_level0(service, db)
    doomed = _killed_join(service)
    old_history = doomed.parent
    kept = sorted(p.name for p in old_history.iterdir() if p.name.endswith((".seg.zst", ".json")))

    report = service.move_snapshots(NAME, tmp_path / "elsewhere")

    new_history = tmp_path / "elsewhere" / NAME / "history"
    moved = sorted(p.name for p in new_history.iterdir())
    # THE RULE: the decided removal is finished, not undone: no file of that segment
    # (nor its tombstone) in the new folder, every other segment moved with its manifest.
    stem = stem_of(doomed.name)
    assert not [n for n in moved if stem in n], moved
    assert [n for n in moved if not n.startswith(".")] == [n for n in kept if stem not in n]
    assert not old_history.exists(), "the old folder is gone, tombstone and all"
    assert not report.left, report.left
    (chain,) = chains_of(service.workspace, NAME)
    assert _rows_at_tip(service, chain, tmp_path / "tip.db") == rows


def test_a_snapshot_whose_deletion_was_decided_is_finished_not_moved(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=30)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual")
    doomed = service.backup(NAME, full=True)
    with sqlite3.connect(db) as conn:
        conn.execute("insert into items(id, name, payload) values (7000, 'y', x'01')")
    conn.close()
    kept = service.backup(NAME, full=True)
    old = service.workspace.snapshot_folder(service.workspace.config(), service.source(NAME))
    stem = doomed.manifest.stem
    # a deletion killed after its first step: the manifest is the tombstone, the
    # artifact still there
    os.replace(old / doomed.manifest.manifest_name, old / f".{stem}{TOMBSTONE_SUFFIX}")

    report = service.move_snapshots(NAME, tmp_path / "elsewhere")

    new = tmp_path / "elsewhere" / NAME
    assert not [p for p in new.iterdir() if stem in p.name], "not brought back"
    assert [p.name for p in new.iterdir() if kept.manifest.stem in p.name], "the other moved"
    assert not old.exists(), "the deletion was finished and the old folder is gone"
    assert report.moved == [kept.id] and not report.left, report


def _waiting_for(thread: threading.Thread, lock_path: Path) -> bool:
    """Whether `thread` is waiting for the lock at `lock_path` (read from its frames)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        lock = frame.f_locals.get("self")
        if frame.f_code.co_name == "acquire_within" and getattr(lock, "path", None) == lock_path:
            return True
        frame = frame.f_back
    return False


def test_a_history_folder_made_during_a_move_is_held_by_the_move(home: Path, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=30)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    service.backup(NAME, full=True)  # snapshots, but no history yet
    old = service.workspace.snapshot_folder(service.workspace.config(), service.source(NAME))
    old_history = old / "history"
    assert not old_history.exists()
    new = tmp_path / "elsewhere" / NAME
    new.mkdir(parents=True, mode=0o700)
    new_lock = FileLock(new / FOLDER_LOCK_NAME)
    assert new_lock.try_acquire()  # a backup in the new folder: the move waits for it
    reports = []
    mover = threading.Thread(
        target=lambda: reports.append(service.move_snapshots(NAME, tmp_path / "elsewhere"))
    )
    mover.start()
    try:
        wait_until(
            lambda: _waiting_for(mover, new / FOLDER_LOCK_NAME), "the move waits for the new folder"
        )
        # a follower (another process, say) starts now and makes its history folder
        follower = Service().open_follower(NAME, compact_every_s=0, write_every_s=0)
        assert old_history.is_dir()
        # THE RULE: the move holds that folder: no segment can be published there
        # while it is copied and removed
        with pytest.raises(HistoryBusy), changing(old_history):
            pass
    finally:
        new_lock.release()
        mover.join(timeout=60)
    assert reports and not reports[0].left, reports
    assert not old.exists(), "nothing left where nobody reads"
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("insert into items(id, name, payload) values (8000, 'late', x'00')")
        with pytest.raises((FileNotFoundError, HistoryMoved)):
            follower.start()
            writer.execute("insert into items(id, name, payload) values (8001, 'late', x'00')")
            follower.poll()
            follower.close()
    finally:
        writer.close()
    assert not old.exists(), "the follower left behind never makes the old folder again"
