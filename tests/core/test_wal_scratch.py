"""A WAL database whose file holds it all, copied into scratch and packed from that copy:
compared under a short read transaction after an unlocked copy (core/wal_converge.py,
the default), or copied inside it with the compressor following (core/wal_scratch.py,
"follow"): either way the app's checkpoints run again while the snapshot is packed."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.decompress import decompress_file
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.wal_direct import frozen_wal
from lifeboat.core.wal_scratch import CopyAhead, CopyFailed, copy_frozen, following_frames
from lifeboat.foundation.progress import CancelToken
from tests.core.test_wal_direct import checkpointed_wal_db
from tests.helpers.databases import db_content
from tests.helpers.waiting import wait_until
from tests.helpers.workfiles import snapshot_request


def checkpoint_truncates(conn: sqlite3.Connection) -> bool:
    """Whether a TRUNCATE checkpoint of the app's completes now (busy = 0)."""
    return conn.execute("pragma wal_checkpoint(truncate)").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("mode", "strategy"), [("converge", "wal-converge"), ("follow", "wal-scratch")]
)
def test_the_app_checkpoints_while_the_snapshot_is_still_packed(
    tmp_path: Path, mode: str, strategy: str
):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=8000)
    before = db_content(db)
    # progress may be told from the copier's thread (core/snapshot_converge.py)
    app = sqlite3.connect(db, isolation_level=None, timeout=0.05, check_same_thread=False)
    app.execute("pragma wal_autocheckpoint=0")
    checkpointed: list[str] = []

    def commit_and_checkpoint_mid_pack(phase: str, done: int, total: int) -> None:
        # The compressor waits here, mid-snapshot: with the read transaction still held
        # (WAL read lock 0) no checkpoint could copy the app's frame back, ever.
        if phase != "copy" and not checkpointed:
            app.execute("insert into items(name, payload) values ('during', x'01')")
            wait_until(lambda: checkpoint_truncates(app), "the app's checkpoint", timeout=20)
            checkpointed.append(phase)
            assert os.path.getsize(f"{db}-wal") == 0  # truncated by the app's checkpoint

    try:
        manifest = take_snapshot(
            snapshot_request(tmp_path, db, copy=CopySettings(wal_scratch=mode)),
            progress=commit_and_checkpoint_mid_pack,
        )
    finally:
        app.close()
    assert checkpointed and manifest.extra["copy_strategy"] == strategy
    # the hold is measured, and shorter than the whole snapshot
    assert 0 < float(manifest.extra["copy_locked_ms"]) < manifest.duration_s * 1000
    out = tmp_path / "restored.db"
    decompress_file(tmp_path / "snaps" / "notes" / manifest.artifact, out)
    assert db_content(out) == before  # the state the transaction read, not the later row


def test_a_copy_that_fails_releases_the_lock_and_stops_the_reader_following_it(
    tmp_path: Path,
):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=3000)
    unwritable = tmp_path / "copy.db"
    unwritable.write_bytes(b"")
    with frozen_wal(db, 5.0) as frozen:
        assert frozen is not None
        ahead = CopyAhead(frozen.db_size)
        out = os.open(unwritable, os.O_RDONLY)  # every write to it fails (EBADF)
        copier = threading.Thread(target=copy_frozen, args=(frozen, out, ahead, CancelToken()))
        copier.start()
        with pytest.raises(CopyFailed) as failed:
            b"".join(following_frames(unwritable, ahead, 64 << 10))
        assert isinstance(failed.value.error, OSError)
        copier.join()
        assert not frozen.conn.in_transaction  # read lock 0 released by the copier
        app = sqlite3.connect(db, isolation_level=None, timeout=0.05)
        try:
            app.execute("insert into items(name, payload) values ('after', x'01')")
            assert checkpoint_truncates(app)
        finally:
            app.close()


def test_the_copy_is_the_standalone_database_the_snapshot_holds(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=5000, commits_before_wal=3)
    copy = tmp_path / "copy.db"
    with frozen_wal(db, 5.0) as frozen:
        assert frozen is not None
        ahead = CopyAhead(frozen.db_size)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        copier = threading.Thread(target=copy_frozen, args=(frozen, fd, ahead, CancelToken()))
        copier.start()
        followed = b"".join(following_frames(copy, ahead, 100 << 10))
        copier.join()
        assert ahead.held_seconds > 0 and not frozen.conn.in_transaction
    assert followed == copy.read_bytes() and len(followed) == frozen.db_size
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert db_content(copy) == db_content(db)


def test_pages_a_checkpoint_writes_during_the_unlocked_copy_are_in_the_snapshot(
    tmp_path: Path,
):
    # The app commits and checkpoints while the copy reads the file without a lock: the
    # compare under read lock 0 finds the chunks the checkpoint wrote and copies them.
    # What was packed as the copy was made is then not the copy: it is packed again.
    db = checkpointed_wal_db(tmp_path / "app.db", rows=8000)
    # the copy's progress is told from the copier's thread (core/snapshot_converge.py)
    app = sqlite3.connect(db, isolation_level=None, timeout=5, check_same_thread=False)
    moved: list[bool] = []

    def write_half_way(phase: str, done: int, total: int) -> None:
        if phase == "copy" and not moved and done >= total // 2:
            app.execute("update items set payload = randomblob(600) where id % 7 = 0")
            app.execute("insert into items(name, payload) values ('mid-copy', x'02')")
            assert checkpoint_truncates(app)  # no lock of ours now: it goes through
            moved.append(True)

    try:
        manifest = take_snapshot(snapshot_request(tmp_path, db), progress=write_half_way)
        expected = db_content(db)
    finally:
        app.close()
    assert moved and manifest.extra["copy_strategy"] == "wal-converge"
    assert manifest.extra["copy_packed_again"] is True
    out = tmp_path / "restored.db"
    decompress_file(tmp_path / "snaps" / "notes" / manifest.artifact, out)
    assert db_content(out) == expected


@pytest.mark.parametrize("when", [0.5, 1.0])
def test_a_database_that_shrinks_during_the_copy_is_packed_again_whole(tmp_path: Path, when: float):
    """The app deletes most rows and vacuums, and its checkpoint cuts the file, half way
    through the unlocked copy, or once its first pass is whole but the compressor still
    reads it far behind (zstd level 19 here): the locked compare then cuts the copy
    under the compressor. The snapshot is the database as it is now, packed again from
    the finished copy."""
    db = checkpointed_wal_db(tmp_path / "app.db", rows=20_000)
    app = sqlite3.connect(db, isolation_level=None, timeout=5, check_same_thread=False)
    before = db.stat().st_size
    shrunk: list[int] = []

    def shrink(phase: str, done: int, total: int) -> None:
        if phase == "copy" and not shrunk and done >= total * when:
            app.execute("delete from items where id > 500")
            app.execute("vacuum")
            assert checkpoint_truncates(app)
            shrunk.append(db.stat().st_size)

    try:
        request = snapshot_request(tmp_path, db, level=19)
        manifest = take_snapshot(request, progress=shrink)
        expected = db_content(db)
    finally:
        app.close()
    assert shrunk and shrunk[0] < before // 4
    assert manifest.extra["copy_strategy"] == "wal-converge"
    assert manifest.extra["copy_packed_again"] is True
    assert manifest.db_size == shrunk[0]
    out = tmp_path / "restored.db"
    decompress_file(tmp_path / "snaps" / "notes" / manifest.artifact, out)
    assert db_content(out) == expected


def test_a_quiet_database_is_packed_as_it_is_copied_and_packed_once(tmp_path: Path):
    """Nothing writes during the copy: what the compressor read following the first
    pass is the copy, byte for byte as the backup API would make it; it is kept, and
    the progress goes through the copy, then the packing, never back."""
    db = checkpointed_wal_db(tmp_path / "app.db", rows=8000, commits_before_wal=3)
    told: list[tuple[str, float]] = []
    manifest = take_snapshot(
        snapshot_request(tmp_path, db),
        progress=lambda phase, done, total: told.append((phase, done / total)),
    )
    assert manifest.extra["copy_strategy"] == "wal-converge"
    assert "copy_packed_again" not in manifest.extra
    out = tmp_path / "restored.db"
    decompress_file(tmp_path / "snaps" / "notes" / manifest.artifact, out)
    copy_database(db, tmp_path / "by-backup-api.db")
    assert out.read_bytes() == (tmp_path / "by-backup-api.db").read_bytes()
    phases = [phase for phase, _ in told]
    assert phases == sorted(phases, key=["copy", "compress"].index)
    assert told[phases.index("compress") - 1] == ("copy", 1.0)
    for phase in ("copy", "compress"):
        shares = [share for p, share in told if p == phase]
        assert shares == sorted(shares) and shares[-1] == 1.0
