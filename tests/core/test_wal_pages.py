"""A WAL database frozen with its frames not yet copied back (core/wal_direct.py,
`wal_frames`: what a preview reads, since a preview never checkpoints the app's file):
page for page the state a read transaction of that moment reads, for as long as it is
held, while the app commits, checkpoints and tries to reset its WAL; and nothing when a
frame is not what the wal-index says."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.wal_direct import FrozenWal, frames_of, frozen_wal, standalone_header
from tests.helpers.databases import make_db


def _app(db: Path) -> sqlite3.Connection:
    """The app's connection: it never checkpoints on its own."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    conn.execute("pragma wal_autocheckpoint=0")
    return conn


def _state_now(db: Path, into: Path) -> bytes:
    """The database's state now, as its file would hold it with every frame copied
    back: the file and its WAL copied aside (nothing commits meanwhile), the copy's WAL
    recovered and checkpointed by SQLite."""
    into.mkdir()
    copy = into / db.name
    shutil.copyfile(db, copy)
    shutil.copyfile(f"{db}-wal", f"{copy}-wal")
    conn = sqlite3.connect(copy, isolation_level=None)
    busy, _, _ = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
    assert busy == 0
    conn.close()
    return copy.read_bytes()


def _read_all(frozen: FrozenWal, piece_pages: int) -> bytes:
    """Every page through read_into in pieces, and each one through page()."""
    size = frozen.page_size
    whole = bytearray(frozen.db_size)
    view = memoryview(whole)
    for offset in range(0, frozen.db_size, piece_pages * size):
        frozen.read_into(view[offset : offset + piece_pages * size], offset)
    one_by_one = b"".join(frozen.page(n) for n in range(1, frozen.page_count + 1))
    assert one_by_one == whole
    return bytes(whole)


@pytest.mark.parametrize("partly_copied_back", [False, True], ids=["none-back", "some-back"])
def test_the_state_read_is_the_moment_s_while_the_app_commits_and_checkpoints(
    tmp_path: Path, partly_copied_back: bool
):
    db = make_db(tmp_path / "live.db", rows=3000, payload=300, wal=True)
    app = _app(db)
    app.execute("pragma wal_checkpoint(truncate)")
    app.execute("update items set name = 'first' where id % 7 = 0")
    if partly_copied_back:  # a reader holds the first commit's mark: half copied back
        reader = sqlite3.connect(db, isolation_level=None)
        reader.execute("begin")
        reader.execute("select count(*) from items").fetchone()
        app.execute("delete from items where id % 5 = 0")
        app.execute("pragma wal_checkpoint(passive)")
        reader.close()
    # pages past the file's end: only in the WAL
    app.execute("insert into items(name, payload) select name, payload from items limit 900")
    app.execute("update items set payload = zeroblob(200) where id % 11 = 0")
    then = _state_now(db, tmp_path / "then")
    assert os.path.getsize(db) < len(then), "the state's last pages are in the WAL only"
    with frozen_wal(db, 5.0, wal_frames=True) as frozen:
        assert frozen is not None and frozen.wal_pages is not None
        assert frozen.db_size == len(then)
        assert _read_all(frozen, 64) == then
        # what a safety snapshot packs (core/snapshot_frozen.py)
        packed = b"".join(frames_of(frozen, 37 * frozen.page_size))
        assert packed == standalone_header(then[: frozen.page_size]) + then[frozen.page_size :]
        # The app goes on: new commits, a checkpoint (it may copy back no frame the
        # frozen state does not read), a reset it cannot make while the state is read.
        app.execute("delete from items where id % 3 = 0")
        app.execute("insert into items(name, payload) values ('later', zeroblob(5000))")
        app.execute("pragma wal_checkpoint(passive)")
        busy, _, _ = app.execute("pragma wal_checkpoint(restart)").fetchone()
        assert busy == 1, "the WAL is not reset under the frozen state"
        app.execute("update items set name = 'after' where id % 2 = 0")
        assert _read_all(frozen, 7) == then
        rows = 3000 - (600 if partly_copied_back else 0) + 900
        assert frozen.conn.execute("select count(*) from items").fetchone() == (rows,)
    app.close()


def test_without_asking_for_them_frames_not_copied_back_give_nothing(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=500, wal=True)
    app = _app(db)
    app.execute("insert into items(name, payload) values ('late', x'00')")
    with frozen_wal(db, 5.0) as frozen:
        assert frozen is None
    with frozen_wal(db, 5.0, wal_frames=True) as frozen:
        assert frozen is not None and frozen.wal_pages is not None
    app.execute("pragma wal_checkpoint(passive)")
    with frozen_wal(db, 5.0, wal_frames=True) as frozen:  # every frame copied back
        assert frozen is not None and frozen.wal_pages is None
    app.close()


def test_a_frame_whose_salts_are_not_the_wal_index_s_gives_nothing(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=500, wal=True)
    app = _app(db)
    app.execute("pragma wal_checkpoint(truncate)")
    app.execute("update items set name = 'x' where id < 100")
    page_size = app.execute("pragma page_size").fetchone()[0]
    second_frame_salts = 32 + (24 + page_size) + 8
    with open(f"{db}-wal", "r+b") as wal:
        wal.seek(second_frame_salts)
        salts = wal.read(8)
        wal.seek(second_frame_salts)
        wal.write(bytes(b ^ 0xFF for b in salts))
    with frozen_wal(db, 5.0, wal_frames=True) as frozen:
        assert frozen is None
    app.close()


@pytest.mark.parametrize("page_size", [512, 65536])
def test_the_smallest_and_largest_pages_are_read_from_the_wal_too(tmp_path: Path, page_size: int):
    """The WAL header keeps the page size whole, 65536 too (the database header keeps
    that one as 1)."""
    db = tmp_path / "live.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"pragma page_size={page_size}")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table t(id integer primary key, body text)")
    conn.executemany("insert into t(body) values (?)", [("x" * 700,)] * 300)
    conn.close()
    app = _app(db)
    app.execute("pragma wal_checkpoint(truncate)")
    app.execute("update t set body = 'changed' where id % 3 = 0")
    app.execute("insert into t(body) select body from t limit 100")
    then = _state_now(db, tmp_path / "then")
    with frozen_wal(db, 5.0, wal_frames=True) as frozen:
        assert frozen is not None and frozen.wal_pages is not None
        assert frozen.page_size == page_size
        assert _read_all(frozen, 3) == then
    app.close()
