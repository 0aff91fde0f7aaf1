"""Snapshots of a WAL database copied from its file (core/wal_direct.py, wal_scratch.py):
only while SQLite proves the file holds it all (WAL read lock 0: no checkpoint can write
it), each one a state a writer committed, page 1 as the backup API's copy has it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lifeboat.core.dbcopy import copy_database
from lifeboat.core.decompress import decompress_file
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.wal_direct import FrozenWal, frozen_wal
from lifeboat.core.wal_scratch import CopyAhead, copy_frozen, following_frames
from lifeboat.foundation.errors import SourceError
from lifeboat.foundation.progress import CancelToken
from tests.helpers.databases import make_db
from tests.helpers.wal_reset import copy_reading, judge_ledger_copies
from tests.helpers.workfiles import files_under, snapshot_request

HELPERS = Path(__file__).parent.parent / "helpers"


def checkpointed_wal_db(path: Path, rows: int, commits_before_wal: int = 0) -> Path:
    make_db(path, rows=rows, payload=600, wal=False)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("alter table items add column version integer not null default 0")
    for _ in range(commits_before_wal):  # moves the change counter
        conn.execute("update items set version = version where id = 1")
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return path


def scratch_copy(frozen: FrozenWal, path: Path) -> bytes:
    """The frozen database copied into `path` (core/wal_scratch.py), as read following
    the copy; the read transaction ends with the copy."""
    ahead = CopyAhead(frozen.db_size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    copier = threading.Thread(target=copy_frozen, args=(frozen, fd, ahead, CancelToken()))
    copier.start()
    try:
        return b"".join(following_frames(path, ahead, 128 << 10))
    finally:
        copier.join()


@pytest.mark.parametrize("commits", [0, 1, 300])
def test_page_one_is_what_the_backup_api_copy_holds(tmp_path: Path, commits: int):
    db = checkpointed_wal_db(tmp_path / "a.db", rows=500, commits_before_wal=commits)
    copied = copy_database(db, tmp_path / "copy.db")
    with frozen_wal(db, 5.0) as frozen:
        assert frozen is not None
        direct = scratch_copy(frozen, tmp_path / "scratch.db")
    assert direct == (tmp_path / "copy.db").read_bytes()
    assert len(direct) == copied.db_size


def test_frames_not_yet_copied_back_mean_the_usual_copy(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "a.db", rows=500)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("insert into items(name, payload) values ('late', x'00')")  # in the WAL only
    try:
        with frozen_wal(db, 5.0) as frozen:
            assert frozen is None
        manifest = take_snapshot(snapshot_request(tmp_path, db))
        assert manifest.extra["copy_strategy"] == "wal-read-transaction"
        app.execute("pragma wal_checkpoint(passive)")  # every frame copied back now
        manifest = take_snapshot(snapshot_request(tmp_path, db))
        assert manifest.extra["copy_strategy"] == "wal-converge"
    finally:
        app.close()


def test_snapshots_while_a_writer_and_a_checkpointer_run_are_states_it_logged(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "busy.db", rows=20_000)
    log = tmp_path / "ledger.log"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log), "0.003", "wal"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()

    def checkpoint_all_the_time() -> None:
        # Copies every frame back as soon as it can: the direct path is taken often, and
        # a checkpoint that wrote the file under it would tear the snapshot.
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        while not stop.is_set():
            conn.execute("pragma wal_checkpoint(passive)")
        conn.close()

    checkpointer = threading.Thread(target=checkpoint_all_the_time)
    strategies: list[str] = []
    readings: list[tuple[int, int] | str] = []
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        checkpointer.start()
        # At least 20 rounds, and on until the direct path was taken (which round takes
        # it is timing: about 1 run in 6 took none in 20 rounds)
        for round_no in range(80):
            try:
                manifest = take_snapshot(snapshot_request(tmp_path, db, hash_pages=False))
            except SourceError as exc:
                # its copy failed SQLite's check: the live database, read once the
                # writers stopped, says whether SQLite damaged it or the copy is torn
                assert "integrity check" in exc.message, exc.message
                readings.append(exc.message)
                break
            strategies.append(manifest.extra["copy_strategy"])
            out = tmp_path / f"restored-{round_no}.db"
            decompress_file(tmp_path / "snaps" / "notes" / manifest.artifact, out)
            readings.append(copy_reading(out))
            out.unlink()
            if round_no >= 19 and "wal-converge" in strategies:
                break
    finally:
        stop.set()
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=60)
        checkpointer.join(timeout=60)
    # The writer and this checkpointer run this Python's SQLite, which may lose a write
    # by itself (tests/helpers/wal_reset.py): a torn live database cannot judge copies.
    judge_ledger_copies(db, readings, {int(line) for line in log.read_text().split()} | {0})
    assert "wal-converge" in strategies, strategies


def test_a_damaged_database_is_found_and_nothing_stored(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "bad.db", rows=3000)
    with open(db, "r+b") as fh:  # scribble over a page in the middle
        fh.seek(4096 * 30)
        fh.write(b"\xff" * 4096)
    with pytest.raises(SourceError) as err:
        take_snapshot(snapshot_request(tmp_path, db, check="full"))
    assert "integrity check" in err.value.message or "damaged" in err.value.message
    folder = tmp_path / "snaps" / "notes"
    assert not list(folder.iterdir())
    assert not files_under(tmp_path / "tmp")


def test_differentials_are_packed_from_the_file_and_round_trip(tmp_path: Path):
    from tests.core.test_incremental import as_base, mutate, rebuilt, request, sha
    from tests.helpers.databases import db_content

    db = checkpointed_wal_db(tmp_path / "live.db", rows=3000)
    base = take_snapshot(request(tmp_path, db))
    assert base.extra["copy_strategy"] == "wal-converge" and base.pages_sha256
    for seed in (1, 2):
        mutate(db, seed)
        conn = sqlite3.connect(db)
        conn.execute("pragma wal_checkpoint(truncate)")
        conn.close()
        expected = db_content(db)
        diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, base)))
        assert diff.kind == "diff" and diff.extra["copy_strategy"] == "wal-converge"
        out = rebuilt(tmp_path, diff, base)
        assert db_content(out) == expected and sha(out) == diff.db_sha256
    unchanged = take_snapshot(request(tmp_path, db, as_base(tmp_path, base)))
    assert unchanged.extra["content_digest"] == diff.extra["content_digest"]
