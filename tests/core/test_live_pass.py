"""A row merge's changed rows take the live file's page hashes from its safety
snapshot's pass (core/live_pass.py) only for the very same frozen state: then what they
find is what their own pass finds; after a commit between the two freezes they make
their own pass; and a reader is never kept waiting by a pass that will not come."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from threading import Thread

import pytest

from lifeboat.core.live_pass import PassShare, state_of
from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import page_hashes_of
from lifeboat.core.rowmerge_changed import LiveScan, scan_live
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.wal_direct import frozen_wal
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.progress import CancelToken
from tests.core.test_incremental import as_base, request
from tests.core.test_wal_direct import checkpointed_wal_db
from tests.helpers.workfiles import snapshot_request

WAIT_S = 30  # a generous bound on a thread that should end at once


def _listed(db: Path) -> bytes:
    """The page-hash list of the database as it is now (what a snapshot of it keeps)."""
    data = db.read_bytes()
    return page_hashes_of(memoryview(data), 4096)


def _commit(db: Path, sql: str) -> None:
    """The app commits and closes (its -shm is made anew by the next connection)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(sql)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()


def _safety_snapshot(tmp_path: Path, db: Path, base: Manifest, share: PassShare) -> Thread:
    """A safety snapshot (a differential read straight from the frozen file, as a
    restore's or merge's) handing its pass to `share`, in a thread."""
    request = snapshot_request(
        tmp_path,
        db,
        folder=tmp_path / "snaps",
        base=as_base(tmp_path, base),
        whole_sha256=False,
        checkpoint_first=True,
        share=share,
    )
    thread = Thread(target=take_snapshot, args=(request,))
    thread.start()
    return thread


def _same(a: LiveScan, b: LiveScan) -> bool:
    return (a.differing, a.count_high, a.count_low) == (b.differing, b.count_high, b.count_low)


def test_the_safety_snapshots_pass_of_the_same_state_gives_what_the_readers_own_gives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    db = checkpointed_wal_db(tmp_path / "live.db", rows=3000)
    base = take_snapshot(request(tmp_path, db))
    listed = _listed(db)
    _commit(db, "delete from items where id % 37 = 0")
    share = PassShare()
    with frozen_wal(db, 5.0, checkpoint=True) as rows:
        assert rows is not None
        safety = _safety_snapshot(tmp_path, db, base, share)  # frozen while rows is
        with caplog.at_level("INFO", logger="lifeboat.core.rowmerge_changed"):
            shared = scan_live(rows, listed, rows.page_count, CancelToken(), share)
        own = scan_live(rows, listed, rows.page_count, CancelToken())
        safety.join(WAIT_S)
    assert "hashed once, by the safety snapshot's pass" in caplog.text
    assert _same(shared, own)
    assert len(own.differing) > 20, "the deleted rows' pages differ"


@pytest.mark.parametrize("commit", [True, False], ids=["app-committed", "nothing-committed"])
def test_a_pass_whose_read_ended_before_the_reader_froze_is_not_taken(tmp_path: Path, commit: bool):
    # After a commit whose connection closed, the -shm is made anew: the next freeze may
    # find the very same wal-index header bytes as before the commit (its change number
    # started again), so only read transactions held at one moment prove one state.
    db = checkpointed_wal_db(tmp_path / "live.db", rows=3000)
    base = take_snapshot(request(tmp_path, db))
    listed = _listed(db)
    share = PassShare()
    _safety_snapshot(tmp_path, db, base, share).join(WAIT_S)
    if commit:
        _commit(db, "delete from items where id % 37 = 0")
    with frozen_wal(db, 5.0, checkpoint=True) as rows:
        assert rows is not None
        assert share.result_for(state_of(rows), CancelToken()) is None
        found = scan_live(rows, listed, rows.page_count, CancelToken(), share)
        own = scan_live(rows, listed, rows.page_count, CancelToken())
    assert _same(found, own)
    assert (len(own.differing) > 20) == commit, "the pages the commit changed are found"


@pytest.mark.parametrize("commit", [False, True], ids=["same-state", "app-committed-between"])
def test_frames_the_open_app_has_not_copied_back_are_shared_only_for_one_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, commit: bool
):
    """Both freezes read the app's frames from the WAL (core/wal_frames.wal_pages): the
    pass is shared when no commit came between their starts, and then it is what the
    reader's own pass finds; a commit between them (the app's connection open, the -shm
    kept) moves the header, and the reader makes its own pass."""
    db = checkpointed_wal_db(tmp_path / "live.db", rows=3000)
    base = take_snapshot(request(tmp_path, db))
    listed = _listed(db)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("delete from items where id % 37 = 0")
    share = PassShare()
    try:
        with frozen_wal(db, 5.0, wal_frames=True) as rows:
            assert rows is not None and rows.wal_pages is not None
            if commit:  # while rows is held: its state stays, the header moves on
                app.execute("delete from items where id % 41 = 0")
            safety = _safety_snapshot(tmp_path, db, base, share)  # frozen while rows is
            with caplog.at_level("INFO", logger="lifeboat.core.rowmerge_changed"):
                found = scan_live(rows, listed, rows.page_count, CancelToken(), share)
            own = scan_live(rows, listed, rows.page_count, CancelToken())
            safety.join(WAIT_S)
    finally:
        app.close()
    assert ("hashed once, by the safety snapshot's pass" in caplog.text) != commit
    assert _same(found, own)
    assert len(own.differing) > 20, "the deleted rows' pages differ"


def _reader(share: PassShare, state: object, cancel: CancelToken) -> tuple[threading.Thread, list]:
    answer: list = []

    def run() -> None:
        try:
            answer.append(share.result_for(state, cancel))  # type: ignore[arg-type]
        except Cancelled as exc:
            answer.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


def test_a_reader_is_never_kept_waiting_by_a_pass_that_will_not_come(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "live.db", rows=500)
    with frozen_wal(db, 5.0) as frozen:
        assert frozen is not None
        state = state_of(frozen)
    assert state is not None
    other = type(state)(state.device, state.inode, state.page_size, state.page_count, b"x" * 48)
    # a pass abandoned before it begins (a full snapshot, a copy, a failure)
    share = PassShare()
    waiting, answer = _reader(share, state, CancelToken())
    share.abandon()
    waiting.join(WAIT_S)
    assert answer == [None]
    # a pass of another state: no wait for it to end
    share = PassShare()
    share.begin(other)
    waiting, answer = _reader(share, state, CancelToken())
    waiting.join(WAIT_S)
    assert answer == [None]
    # a pass whose read transaction ends before it finished (its safety snapshot was
    # stopped because the app committed): the waiting reader goes on at once
    share = PassShare()
    share.begin(state)
    waiting, answer = _reader(share, state, CancelToken())
    share.release()
    waiting.join(WAIT_S)
    assert answer == [None]
    # a pass that stops half way: nothing
    share = PassShare()
    share.begin(state)
    share.add(b"\0" * 4096, b"\0" * 16, 4096)
    share.finish()
    assert share.result_for(state, CancelToken()) is None, "not the whole file"
    # the reader's own job is cancelled while it waits
    share = PassShare()
    share.begin(state)
    cancel = CancelToken()
    waiting, answer = _reader(share, state, cancel)
    cancel.cancel("stopped")
    waiting.join(WAIT_S)
    assert len(answer) == 1 and isinstance(answer[0], Cancelled)
    assert not waiting.is_alive()


def test_a_pass_is_handed_to_one_reader_only(tmp_path: Path):
    """A second reader could inherit the first one's overlap without having frozen
    beside the pass itself: it hashes the file on its own."""
    db = checkpointed_wal_db(tmp_path / "live.db", rows=3000)
    base = take_snapshot(request(tmp_path, db))
    share = PassShare()
    with frozen_wal(db, 5.0, checkpoint=True) as rows:
        assert rows is not None
        safety = _safety_snapshot(tmp_path, db, base, share)
        state = state_of(rows)
        first = share.result_for(state, CancelToken())
        second = share.result_for(state, CancelToken())
        safety.join(WAIT_S)
    assert first is not None and len(first.hashes) == 16 * rows.page_count
    assert second is None
