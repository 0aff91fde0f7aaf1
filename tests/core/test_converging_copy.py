"""The converging copy of a rollback-journal database (core/converging_copy.py): copied
without a lock, compared under SQLite's shared lock; every copy is one committed state,
writers commit while it runs, and what they commit meanwhile is in the copy."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core import converging_copy as converging
from lifeboat.core.converging_copy import ConvergedCopy, converging_copy
from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.file_stamp import FileStamp
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from tests.helpers.databases import make_db
from tests.helpers.waiting import wait_until

HELPERS = Path(__file__).parent.parent / "helpers"


def versioned_db(path: Path, rows: int) -> Path:
    """A rollback-journal database whose rows carry a version the ledger writer bumps."""
    make_db(path, rows=rows, payload=600, wal=False)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("alter table items add column version integer not null default 0")
    conn.close()
    return path


def ledger_state(copy: Path) -> int:
    """The copy's ledger total, after checking it is whole and one committed state."""
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        versions = conn.execute("select sum(version) from items").fetchone()[0]
        total = conn.execute("select total from ledger").fetchone()[0]
        assert versions == total, f"a torn copy: rows say {versions}, the ledger {total}"
        return int(total)
    finally:
        conn.close()


def file_bytes(path: Path, length: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(length)).hexdigest()


def test_a_quiet_database_is_copied_byte_for_byte(tmp_path: Path):
    db = make_db(tmp_path / "quiet.db", rows=3000, payload=500, wal=False)
    copied = copy_database(db, tmp_path / "copy.db")
    assert copied.strategy == "converging" and not copied.wal_source
    assert copied.locked_seconds is not None
    assert copied.db_size == db.stat().st_size == (tmp_path / "copy.db").stat().st_size
    assert file_bytes(tmp_path / "copy.db", copied.db_size) == file_bytes(db, copied.db_size)


def test_copies_taken_while_a_writer_commits_are_each_a_state_it_logged(tmp_path: Path):
    db = versioned_db(tmp_path / "busy.db", rows=20_000)
    log = tmp_path / "ledger.log"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    states = []
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        for round_no in range(6):
            copy = tmp_path / f"copy-{round_no}.db"
            copy_database(db, copy, settings=CopySettings(converge_passes=1 + round_no % 3))
            states.append(ledger_state(copy))
    finally:
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=60)
    logged = {int(line) for line in log.read_text().split()}
    assert set(states) <= logged, set(states) - logged
    assert len(set(states)) > 1  # the writer did commit between the copies


def test_a_commit_made_while_the_copy_runs_gets_in_and_is_in_the_copy(tmp_path: Path):
    db = make_db(tmp_path / "app.db", rows=20_000, payload=600, wal=False)
    app = subprocess.Popen(
        [sys.executable, str(HELPERS / "journal_writer.py"), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdin is not None and app.stdout is not None
    assert app.stdout.readline().strip() == "ready"
    committed: list[int] = []

    def commit_half_way(phase: str, done: int, total: int) -> None:
        # The app commits (and answers) in the middle of the copy: no lock is held then.
        if phase == "copy" and not committed and done >= total // 2:
            app.stdin.write("write 50\n")
            app.stdin.flush()
            committed.append(int(app.stdout.readline().split()[0]))

    try:
        copied = copy_database(db, tmp_path / "copy.db", progress=commit_half_way)
    finally:
        app.stdin.write("quit\n")
        app.stdin.flush()
        app.wait(timeout=60)
    assert copied.strategy == "converging" and committed
    conn = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select max(id), count(*) from items").fetchone() == (
            committed[0],
            committed[0],
        )
    finally:
        conn.close()


@pytest.mark.parametrize("change", ["shrink", "grow"])
def test_a_file_that_shrinks_or_grows_mid_copy_is_copied_as_it_ends(tmp_path: Path, change: str):
    db = make_db(tmp_path / "moving.db", rows=8000, payload=600, wal=False)
    other = sqlite3.connect(db, isolation_level=None)
    changed: list[bool] = []

    def change_half_way(phase: str, done: int, total: int) -> None:
        if phase == "copy" and not changed and done >= total // 2:
            if change == "shrink":
                other.execute("delete from items where id > 1000")
                other.execute("vacuum")
            else:
                other.execute("insert into items(name, payload) select name, payload from items")
            changed.append(True)

    try:
        copied = copy_database(db, tmp_path / "copy.db", progress=change_half_way)
    finally:
        other.close()
    assert changed and copied.strategy == "converging"
    assert (tmp_path / "copy.db").stat().st_size == db.stat().st_size == copied.db_size
    assert file_bytes(tmp_path / "copy.db", copied.db_size) == file_bytes(db, copied.db_size)


def test_a_source_switched_to_wal_mid_copy_is_copied_as_a_wal_source(tmp_path: Path):
    db = make_db(tmp_path / "switch.db", rows=8000, payload=600, wal=False)
    other = sqlite3.connect(db, isolation_level=None)
    switched: list[str] = []

    def switch_half_way(phase: str, done: int, total: int) -> None:
        if phase == "copy" and not switched and done >= total // 2:
            switched.append(other.execute("pragma journal_mode=wal").fetchone()[0])
            other.execute("insert into items(name, payload) values ('after', x'01')")

    try:
        copied = copy_database(db, tmp_path / "copy.db", progress=switch_half_way)
    finally:
        other.close()
    assert switched == ["wal"]
    assert copied.wal_source and copied.strategy == "wal-read-transaction"
    conn = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from items where name = 'after'").fetchone()[0] == 1
    finally:
        conn.close()


def test_the_copy_leaves_this_process_s_own_sqlite_locks_in_place(tmp_path: Path):
    # Closing any descriptor of the file would drop every lock this process holds on it
    # (POSIX): the copy reads and maps it without ever closing one.
    db = make_db(tmp_path / "held.db", rows=3000, payload=500, wal=False)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("begin")
    reader.execute("select count(*) from items").fetchone()  # SQLite's shared lock
    try:
        copied = copy_database(db, tmp_path / "copy.db")
        assert copied.strategy == "converging"
        script = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)\n"
            "try:\n"
            "    c.execute(\"insert into items(name) values ('other process')\")\n"
            "    print('wrote')\n"
            "except sqlite3.OperationalError as e:\n"
            "    print(e)\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", script, str(db)], capture_output=True, text=True, check=True
        )
        assert other.stdout.strip() == "database is locked", other.stdout
    finally:
        reader.execute("rollback")
        reader.close()


def settled(db: Path) -> None:
    """Wait until the file's last write is old enough for the copy's proof to apply
    (core/file_stamp.py): else the copy ends with the locked compare whatever happens."""
    wait_until(
        lambda: FileStamp.of(b"", os.open(db, os.O_RDONLY)).settled,  # descriptor leaks: fine
        "the database file's times to settle",
    )


def converge(db: Path, dest: Path, progress: Progress = no_progress) -> ConvergedCopy:
    """The converging copy of `db` into `dest`, as dbcopy runs it."""
    opened = os.stat(db)
    lock = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        return converging_copy(
            db,
            (opened.st_dev, opened.st_ino),
            lock,
            dest,
            max_passes=3,
            progress=progress,
            cancel=CancelToken(),
        )
    finally:
        lock.close()


def test_a_settled_quiet_database_needs_no_locked_compare(tmp_path: Path):
    db = make_db(tmp_path / "quiet.db", rows=3000, payload=500, wal=False)
    settled(db)
    copied = converge(db, tmp_path / "copy.db")
    assert copied.proven_unchanged and copied.passes == 1 and copied.locked_chunks == 0
    size = copied.page_size * copied.page_count
    assert file_bytes(tmp_path / "copy.db", size) == file_bytes(db, size)


def test_a_writer_killed_mid_transaction_never_yields_a_torn_copy(tmp_path: Path):
    # The writer spills uncommitted pages into the file while the first pass reads it,
    # then dies (SIGKILL): the pass has read pages no committed state holds, and the
    # reader that takes the lock next rolls the hot journal back, the change counter as
    # it was. The file's times moved: the copy must not take its last pass as proven.
    db = make_db(tmp_path / "app.db", rows=6000, payload=600, wal=False)
    committed = file_bytes(db, db.stat().st_size)
    settled(db)
    app = subprocess.Popen(
        [sys.executable, str(HELPERS / "spill_writer.py"), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdin is not None and app.stdout is not None
    assert app.stdout.readline().strip() == "ready"
    spilled: list[int] = []

    def spill_and_die_half_way(phase: str, done: int, total: int) -> None:
        if phase == "copy" and not spilled and done >= total // 2:
            app.stdin.write("go\n")
            app.stdin.flush()
            spilled.append(int(app.stdout.readline().split()[1]))
            app.send_signal(signal.SIGKILL)
            app.wait(timeout=60)

    try:
        copied = converge(db, tmp_path / "copy.db", spill_and_die_half_way)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=60)
    assert spilled and spilled[0] > 0  # the old pages were journaled: the file was written
    # not taken as proven after the pass that read the spilled pages: another pass or
    # the locked compare put the committed pages back into the copy
    assert copied.passes > 1 or copied.locked_chunks > 0
    assert not Path(f"{db}-journal").exists()  # rolled back when the copy took its lock
    size = copied.page_size * copied.page_count
    assert size == db.stat().st_size
    assert file_bytes(tmp_path / "copy.db", size) == file_bytes(db, size) == committed


def test_copies_while_a_writer_is_killed_at_random_are_each_a_committed_state(tmp_path: Path):
    db = versioned_db(tmp_path / "killed.db", rows=20_000)
    log = tmp_path / "ledger.log"
    states, unlogged = [], set()
    for round_no in range(4):
        writer = subprocess.Popen(
            [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log), "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"

        def kill_half_way(
            phase: str, done: int, total: int, writer: subprocess.Popen[str] = writer
        ) -> None:
            if phase == "copy" and writer.poll() is None and done >= total // 2:
                writer.send_signal(signal.SIGKILL)  # mid-commit, as likely as not
                writer.wait(timeout=60)

        try:
            copy = tmp_path / f"copy-{round_no}.db"
            copy_database(db, copy, progress=kill_half_way)
            states.append(ledger_state(copy))
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=60)
        # killed between its commit and the log line: one committed state goes unlogged
        unlogged.add(max(int(line) for line in log.read_text().split()) + 4)
    logged = {int(line) for line in log.read_text().split()} | unlogged
    assert set(states) <= logged, set(states) - logged


def test_a_locked_compare_that_gives_up_lets_writers_in_and_still_ends_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # No time at all for the locked compare: every attempt but the last gives up at its
    # first chunk, the writer commits, an unlocked pass catches up; the last one finishes.
    monkeypatch.setattr(converging, "locked_budget", lambda size: 0.0)
    db = versioned_db(tmp_path / "busy.db", rows=20_000)
    log = tmp_path / "ledger.log"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "ledger_writer.py"), str(db), str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        copied = converge(db, tmp_path / "copy.db")
        state = ledger_state(tmp_path / "copy.db")
    finally:
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=60)
    assert copied.locked_attempts == converging.LOCKED_ATTEMPTS and not copied.proven_unchanged
    assert state in {int(line) for line in log.read_text().split()}
