"""SQLite's WAL-reset bug (core/wal_reset.py): which versions have it, and that where
Lifeboat's SQLite has it, Lifeboat never runs a PASSIVE checkpoint on a live database
it writes (a restore in place, the safety snapshot's freeze, a row merge), while a fixed
SQLite still does. Both paths run here whatever SQLite this Python links: the flag
saying whether it has the bug is set each way."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeboat.core import wal_reset
from lifeboat.core.restore import replace_in_place
from lifeboat.core.rowmerge import connect_live
from lifeboat.core.runs import start_run
from lifeboat.core.wal_direct import frozen_wal
from lifeboat.foundation.errors import SourceBusy
from tests.helpers.databases import make_db


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ((3, 6, 23), False),  # before WAL mode existed
        ((3, 7, 0), True),
        ((3, 40, 1), True),  # Debian 12's, which Python links here
        ((3, 44, 5), True),
        ((3, 44, 6), False),  # the backport
        ((3, 45, 0), True),
        ((3, 50, 6), True),
        ((3, 50, 7), False),  # the backport
        ((3, 51, 2), True),
        ((3, 51, 3), False),  # the fix
        ((3, 52, 0), False),
        ((3, 54, 1), False),
    ],
)
def test_which_sqlite_versions_have_the_wal_reset_bug(
    version: tuple[int, int, int], affected: bool
) -> None:
    assert wal_reset.has_wal_reset_bug(version) is affected


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def app_connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A live WAL database that an app holds open (so no close of ours is the last one,
    which would checkpoint under an exclusive lock) and never checkpoints itself."""
    live = make_db(tmp_path / "live.db", rows=200)
    app = sqlite3.connect(live, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("update items set name = 'changed' where id <= 20")  # frames in the WAL
    yield app
    app.close()


@pytest.mark.parametrize("affected", [True, False])
def test_a_restore_in_place_folds_its_pages_into_the_file_holding_the_write_lock(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app_connection: sqlite3.Connection,
    affected: bool,
) -> None:
    # Either way the restore's checkpoint runs (no cost left to the app's next commit);
    # on an affected SQLite it runs while a connection of ours holds the write lock.
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    live = tmp_path / "live.db"
    verified = make_db(tmp_path / "verified.db", rows=50, wal=False, seed=1)
    before = _digest(live)
    result = replace_in_place(verified, live, page_size=4096, run=start_run(tmp_path / "run"))
    assert result.method == "backup-api"
    assert app_connection.execute("select count(*) from items").fetchone()[0] == 50
    assert _digest(live) != before  # the restored pages are in the file
    assert app_connection.execute("pragma integrity_check").fetchall() == [("ok",)]


def test_an_affected_sqlite_checkpoints_only_while_it_holds_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_connection: sqlite3.Connection
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", True)
    live = tmp_path / "live.db"
    with wal_reset.checkpoint_allowed(live) as allowed:
        assert allowed
        with pytest.raises(sqlite3.OperationalError):  # the app's writers wait meanwhile
            sqlite3.connect(live, timeout=0).execute("begin immediate")
    app_connection.execute("begin immediate")  # the app writing: no checkpoint then
    with wal_reset.checkpoint_allowed(live, wait_seconds=0.2) as allowed:
        assert not allowed
    app_connection.execute("rollback")
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", False)
    app_connection.execute("begin immediate")  # a fixed SQLite needs no lock
    with wal_reset.checkpoint_allowed(live, wait_seconds=0.2) as allowed:
        assert allowed
    app_connection.execute("rollback")


@pytest.mark.parametrize("affected", [True, False])
def test_the_safety_snapshots_freeze_checkpoints_only_on_a_fixed_sqlite(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app_connection: sqlite3.Connection,
    affected: bool,
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    live = tmp_path / "live.db"
    before = _digest(live)
    with frozen_wal(live, 5.0, checkpoint=True) as frozen:
        froze = frozen is not None
    # frames not yet in the file: frozen only after a checkpoint Lifeboat ran itself
    assert froze is not affected
    assert (_digest(live) == before) is affected
    assert app_connection.execute("pragma integrity_check").fetchall() == [("ok",)]


def test_the_freeze_checkpoints_on_an_affected_sqlite_while_this_process_holds_the_write_lock(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app_connection: sqlite3.Connection,
) -> None:
    # The bug needs a commit resetting the WAL during the checkpoint: with the write lock
    # held here (a row merge's BEGIN IMMEDIATE) no commit can, so the checkpoint may run.
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", True)
    live = tmp_path / "live.db"
    before = _digest(live)
    holder = sqlite3.connect(live, isolation_level=None)
    try:
        holder.execute("begin immediate")
        with pytest.raises(sqlite3.OperationalError):  # the app's writers wait meanwhile
            sqlite3.connect(live, timeout=0).execute("begin immediate")
        with frozen_wal(live, 5.0, checkpoint=True, writes_held=True) as frozen:
            froze = frozen is not None
        holder.execute("rollback")
    finally:
        holder.close()
    assert froze
    assert _digest(live) != before  # the frames were copied back into the file
    assert app_connection.execute("pragma integrity_check").fetchall() == [("ok",)]


@pytest.mark.parametrize("affected", [True, False])
def test_a_merge_writing_the_live_database_never_checkpoints_it_where_sqlite_has_the_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affected: bool
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    live = make_db(tmp_path / "live.db", rows=10)
    writing = connect_live(live, 5.0)
    reading = connect_live(live, 5.0, read_only=True)
    try:
        every = writing.execute("pragma wal_autocheckpoint").fetchone()[0]
        assert (every == 0) is affected
        # a reader never commits, so never checkpoints: left as SQLite makes it
        assert reading.execute("pragma wal_autocheckpoint").fetchone()[0] > 0
    finally:
        writing.close()
        reading.close()


@pytest.mark.parametrize("affected", [True, False])
def test_a_file_replace_copies_the_wal_back_first_and_refuses_while_the_app_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app_connection: sqlite3.Connection,
    affected: bool,
) -> None:
    # Another page size: the file is replaced, after its WAL is copied back into it. On an
    # affected SQLite that copy runs with our write lock held, never beside the app's
    # commits; while the app holds its write lock it is refused and nothing changes.
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    live = tmp_path / "live.db"
    verified = tmp_path / "verified.db"
    with contextlib.closing(sqlite3.connect(verified)) as conn:
        conn.execute("pragma page_size=8192")
        conn.execute("create table items(id integer primary key, name text)")
        conn.execute("insert into items(name) values ('restored')")
        conn.commit()
    before = _digest(live)
    app_connection.execute("begin immediate")
    with pytest.raises(SourceBusy):
        replace_in_place(verified, live, page_size=8192, run=start_run(tmp_path / "run1"))
    # affected: no checkpoint ran beside the app's write lock (a fixed SQLite's TRUNCATE
    # quietly ran as PASSIVE and copied frames back: harmless there)
    assert (_digest(live) == before) is affected
    assert app_connection.execute("select count(*) from items").fetchone()[0] == 200
    app_connection.execute("rollback")
    result = replace_in_place(verified, live, page_size=8192, run=start_run(tmp_path / "run2"))
    assert result.method == "file-replace"
    with contextlib.closing(sqlite3.connect(live)) as conn:
        assert conn.execute("select name from items").fetchall() == [("restored",)]
        assert conn.execute("pragma page_size").fetchone()[0] == 8192
