"""The pages a checkpoint can have written since a moment (core/wal_frames.py), and the
WAL converging copy that compares only those under read lock 0 (core/wal_converge.py).

The proof the converging copy rests on: every page whose bytes a checkpoint changed in
the file after the WAL's salts were read is the page of one of the WAL's frames, as long
as the salts are still the same; a reset of the WAL (RESTART or TRUNCATE checkpoint,
the WAL made anew after the last connection closed) gives other salts, and then nothing
is claimed. Checked here against the file's real bytes, then with a writer and a
checkpointer running during the copies, each copy a state the writer logged.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.core.file_stamp import FileStamp
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.wal_converge import _PassStart, _written_since, converge_wal
from lifeboat.core.wal_direct import frozen_wal
from lifeboat.core.wal_frames import pages_written_since, wal_generation
from lifeboat.foundation.progress import CancelToken, no_progress
from tests.core.test_wal_direct import HELPERS, checkpointed_wal_db
from tests.helpers.waiting import wait_until
from tests.helpers.wal_reset import copy_reading, judge_ledger_copies

_PAGE = 4096


def _pages(path: Path) -> list[bytes]:
    data = path.read_bytes()  # a read, not a held descriptor: no lock of ours is dropped
    return [data[i : i + _PAGE] for i in range(0, len(data), _PAGE)]


def _app(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma wal_autocheckpoint=0")  # checkpoints only when the test says
    return conn


def _change_and_checkpoint(app: sqlite3.Connection) -> None:
    app.execute("update items set payload = randomblob(300) where id % 11 = 0")
    app.execute("insert into items(name, payload) select name, payload from items where id < 400")
    app.execute("delete from items where id % 13 = 0")
    assert app.execute("pragma wal_checkpoint(passive)").fetchone()[0] == 0


def test_every_page_a_checkpoint_wrote_is_one_of_the_frames(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=3000)
    app = _app(db)
    try:
        # a WAL and its index, its frame not yet copied back: the app's next commit appends
        # to this WAL (one fully copied back would be started again: another generation)
        app.execute("update items set name = name where id = 1")
        generation = wal_generation(db)
        assert generation is not None
        before = _pages(db)
        _change_and_checkpoint(app)  # frames written and copied back after the reading
        with frozen_wal(db, 1.0) as frozen:
            assert frozen is not None
            written = pages_written_since(db, generation, frozen.page_size, frozen.page_count)
            after = _pages(db)[: frozen.page_count]
        assert written is not None
        changed = {
            number
            for number, page in enumerate(after, 1)
            if number > len(before) or before[number - 1] != page
        }
        assert len(after) > len(before) and changed  # it grew and changed
        assert changed <= set(written), sorted(changed - set(written))[:20]
    finally:
        app.close()


@pytest.mark.parametrize("reset", ["restart", "truncate", "reopened"])
def test_a_wal_reset_since_the_reading_claims_nothing(tmp_path: Path, reset: str):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=3000)
    app = _app(db)
    try:
        app.execute("update items set name = name where id = 1")
        generation = wal_generation(db)
        assert generation is not None
        if reset == "reopened":  # the last connection closes: -wal and -shm go, then anew
            app.close()
            assert not Path(f"{db}-shm").exists()
            app = _app(db)
        else:
            app.execute(f"pragma wal_checkpoint({reset})")
        _change_and_checkpoint(app)  # the new generation's frames start at the first slot
        with frozen_wal(db, 1.0) as frozen:
            assert frozen is not None
            written = pages_written_since(db, generation, frozen.page_size, frozen.page_count)
        assert written is None
    finally:
        app.close()


def test_a_generation_without_frames_has_no_pages(tmp_path: Path):
    """A WAL emptied by a TRUNCATE checkpoint (its file 0 bytes, the index's frames 0):
    in that same generation nothing can have been copied back since."""
    db = checkpointed_wal_db(tmp_path / "app.db", rows=300)
    app = _app(db)
    try:
        app.execute("update items set name = name where id = 1")
        app.execute("pragma wal_checkpoint(truncate)")
        assert Path(f"{db}-wal").stat().st_size == 0
        generation = wal_generation(db)
        assert generation is not None
        with frozen_wal(db, 1.0) as frozen:
            assert frozen is not None
            written = pages_written_since(db, generation, frozen.page_size, frozen.page_count)
        assert written is not None and not written
    finally:
        app.close()


def test_no_wal_index_has_no_generation(tmp_path: Path):
    db = checkpointed_wal_db(tmp_path / "app.db", rows=100)
    assert not Path(f"{db}-shm").exists()
    assert wal_generation(db) is None


# Copies every frame back as soon as it can (PASSIVE: it never resets the WAL itself), and
# now and then reads the ledger for a few ms: a reader on a WAL snapshot keeps the writer
# from starting the WAL again, so its commits go on in the same generation and are copied
# back while a copy runs; run as: python -c ... DB.
_APP_READER_CHECKPOINTER = """
import signal, sqlite3, sys, time
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
conn = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
reader = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
print("ready", flush=True)
done = 0
while running:
    try:
        conn.execute("pragma wal_checkpoint(passive)").fetchall()
        if done % 20 == 0:
            reader.execute("begin")
            reader.execute("select total from ledger").fetchall()
            time.sleep(0.005)  # the app's own read
            reader.execute("commit")
    except sqlite3.OperationalError:
        pass
    done += 1
conn.close()
"""


def test_copies_locking_only_the_frames_are_states_the_writer_logged(tmp_path: Path):
    """A writer, a checkpointer and a reader run during ten converged copies: each copy
    is a state the writer logged, and copies were made by comparing only the frames'
    pages."""
    db = checkpointed_wal_db(tmp_path / "busy.db", rows=20_000)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table ledger(id integer primary key, total integer)")
    conn.execute("insert into ledger values (1, 0)")
    conn.close()
    log = tmp_path / "ledger.log"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log), "0.01", "wal"],
        stdout=subprocess.PIPE,
        text=True,
    )
    app = subprocess.Popen(
        [sys.executable, "-c", _APP_READER_CHECKPOINTER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    readings: list[tuple[int, int] | str] = []
    by_frames = attempt = 0
    try:
        for proc in (writer, app):
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 90
        while (len(readings) < 10 or not by_frames) and time.monotonic() < deadline:
            attempt += 1
            dest = tmp_path / f"copy-{attempt}.db"
            done = converge_wal(db, dest, 0.2, no_progress, CancelToken())
            if done is not None:
                readings.append(copy_reading(dest))
                by_frames += done.locked_pages is not None
            dest.unlink(missing_ok=True)
    finally:
        for proc in (writer, app):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert len(readings) >= 10, f"only {len(readings)} converged copies in {attempt} attempts"
    assert by_frames > 0, "no copy compared only the frames' pages"
    judge_ledger_copies(db, readings, {int(line) for line in log.read_text().split()} | {0})


def test_a_file_nothing_wrote_during_the_pass_is_not_compared_again(tmp_path: Path):
    """No connection open (no wal-index) and nothing written since long enough for the
    file's times to be settled: its stamp proves the pass read the file as it is, so no
    page is compared or copied under the lock, and the copy is the file."""
    db = checkpointed_wal_db(tmp_path / "quiet.db", rows=3000)
    wait_until(lambda: _stamp(db).settled, "the file's times settled")
    dest = tmp_path / "copy.db"
    done = converge_wal(db, dest, 1.0, no_progress, CancelToken())
    assert done is not None
    assert (done.locked_pages, done.locked_chunks) == (0, 0)
    assert dest.read_bytes()[100:] == db.read_bytes()[100:]  # page 1's header: standalone


def _stamp(path: Path) -> FileStamp:
    fd = os.open(path, os.O_RDONLY)
    try:
        return FileStamp.of(b"", fd)
    finally:
        os.close(fd)


def test_a_checkpoint_the_file_stamp_cannot_see_is_still_compared(tmp_path: Path):
    """A write through a shared mapping to a page already dirty moves neither of the
    file's times (ext4, Linux 6): an app whose SQLite writes the database through its
    mapping (SQLITE_MMAP_READWRITE, synchronous=OFF) checkpoints without moving the
    stamp. Modelled here by the stamp read after a real checkpoint, the wal-index
    before it: the pages it wrote must still be compared."""
    db = checkpointed_wal_db(tmp_path / "mapped.db", rows=3000)
    app = _app(db)
    try:
        _change_and_checkpoint(app)  # a wal-index, every frame copied back
        fd, _ = pinned(db)  # kept open: closing one would drop the app's locks
        try:
            before = _PassStart.of(db, fd)
            _change_and_checkpoint(app)  # the write the stamp does not see
            wait_until(lambda: FileStamp.of(b"", fd).settled, "the file's times settled")
            unseen = replace(before, stamp=FileStamp.of(b"", fd))
            with frozen_wal(db, 1.0) as frozen:
                assert frozen is not None
                written = _written_since(db, frozen, fd, unseen)
                assert written is None or len(written) > 0
        finally:
            unpin(fd)
    finally:
        app.close()
