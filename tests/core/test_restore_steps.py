"""The in-place write follows a copy still being written (core/restore_steps.copy_into
with core/written_so_far.WrittenSoFar): no step reads a page before it is written, and a
writer that fails after steps were written rolls all of them back."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from lifeboat.core.restore_steps import CopyReading, copy_into
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, no_progress
from tests.helpers.databases import content_digest, make_db

CHUNK = 1 << 20


class FollowedWriter:
    """Writes `source` into `dest` in chunks, telling `written`; it only writes past what
    the reader asked for once the reader is waiting for more (so the reader is always
    caught up with the writer: a step really waits), and stops at `fail_at`."""

    def __init__(self, source: Path, dest: Path, written: WrittenSoFar, fail_at: int = 0):
        self.data = source.read_bytes()
        self.dest, self.written, self.fail_at = dest, written, fail_at
        self.wal_at_failure = 0  # the target's WAL when the writer fails (set by the test)
        self.wal: Path | None = None
        self.asked: list[tuple[int, int]] = []  # (bytes asked for, bytes written then)
        self._done = 0
        self._changed = threading.Condition()

    def ready(self, size: int) -> None:
        with self._changed:
            self.asked.append((size, self._done))
            self._changed.notify_all()
        self.written.wait_for(size, CancelToken())
        with self._changed:
            self.asked[-1] = (size, self._done)

    def run(self) -> None:
        with open(self.dest, "r+b") as out:
            while self._done < len(self.data):
                with self._changed:  # wait until the reader asks beyond what is written
                    self._changed.wait_for(lambda: self._waiting())
                if self.fail_at and self._done >= self.fail_at:
                    if self.wal is not None:
                        self.wal_at_failure = self.wal.stat().st_size
                    self.written.fail(CorruptSnapshot("found corrupt while written", ""))
                    return
                out.write(self.data[self._done : self._done + CHUNK])
                out.flush()
                with self._changed:
                    self._done = min(len(self.data), self._done + CHUNK)
                self.written.reached(self._done)
        self.written.finish()

    def _waiting(self) -> bool:
        return bool(self.asked) and self.asked[-1][0] > self._done


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of 3 backup steps and more (source), a differing live database (target)."""
    source = make_db(tmp_path / "source.db", rows=26_000, payload=2000, seed=1)
    target = make_db(tmp_path / "target.db", rows=9_000, payload=2000, seed=2)
    verified = tmp_path / "verified.db"
    with open(verified, "wb") as out:
        out.truncate(source.stat().st_size)  # as the extraction makes it: its whole size
    return source, target, verified


def write_reading(verified: Path, target: Path, reading: CopyReading) -> None:
    """copy_into `target` from `verified` as `reading` says (no gate, never held)."""
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    try:
        copy_into(
            verified,
            conn,
            5.0,
            no_progress,
            CancelToken(),
            lambda: None,
            reading,
            lambda final: False,
        )
    finally:
        conn.close()


def _write(verified: Path, target: Path, writer: FollowedWriter) -> None:
    write_reading(verified, target, CopyReading(ready=writer.ready))


def test_no_step_reads_a_page_before_it_is_written(pair: tuple[Path, Path, Path]):
    source, target, verified = pair
    writer = FollowedWriter(source, verified, WrittenSoFar(source.stat().st_size))
    thread = threading.Thread(target=writer.run)
    thread.start()
    _write(verified, target, writer)
    thread.join()
    assert len(writer.asked) >= 4, "page 1 and three steps at least"
    assert all(done >= min(size, len(writer.data)) for size, done in writer.asked)
    assert content_digest(target) == content_digest(source)


def test_a_writer_failing_after_steps_were_written_rolls_them_back(
    pair: tuple[Path, Path, Path],
):
    source, target, verified = pair
    before = content_digest(target)
    size = source.stat().st_size
    writer = FollowedWriter(source, verified, WrittenSoFar(size), fail_at=size * 3 // 4)
    writer.wal = Path(f"{target}-wal")
    thread = threading.Thread(target=writer.run)
    thread.start()
    with pytest.raises(CorruptSnapshot):
        _write(verified, target, writer)
    thread.join()
    steps_done = [asked for asked, _ in writer.asked if asked < size * 3 // 4]
    assert len(steps_done) >= 3, "steps were written into the target before the failure"
    assert writer.wal_at_failure > 16 << 20, "their pages were in the target's WAL"
    assert content_digest(target) == before
    reader = sqlite3.connect(target)
    assert reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    reader.close()


def test_a_failed_write_keeps_the_target_open_until_the_safety_snapshot_is_taken(
    tmp_path: Path,
):
    """The last connection's close copies the WAL into the file and removes it. A raw
    safety copy (of a database SQLite cannot read) reads the files as they are, beside
    the write: the write's connection must not close under it, also when the write
    fails (here: its copy fails the check owed)."""
    from lifeboat.core.restore import replace_in_place
    from lifeboat.core.runs import start_run

    target = make_db(tmp_path / "app.db", rows=300, wal=True, seed=2)
    conn = sqlite3.connect(target, isolation_level=None)  # the app, committing to the WAL
    conn.execute("pragma wal_autocheckpoint=0")
    conn.execute("update items set name = 'in the wal' where id <= 50")
    wal = Path(f"{target}-wal")
    verified = make_db(tmp_path / "verified.db", rows=300, wal=False, seed=3)
    seen: list[bool] = []

    def failing_check() -> None:
        conn.close()  # the app is gone: the write's connection is the last one
        raise CorruptSnapshot("the copy fails its integrity check")

    def safety_snapshot_taken() -> None:
        seen.append(wal.exists())  # what a raw copy would read

    with pytest.raises(CorruptSnapshot):
        replace_in_place(
            verified,
            target,
            page_size=4096,
            run=start_run(tmp_path / "run"),
            before_commit=failing_check,
            alone=safety_snapshot_taken,
        )
    assert seen == [True]


def test_the_copy_is_released_only_once_the_write_committed(tmp_path: Path):
    """`reading.finished` lets the verified copy go (its pages freed beside the checkpoint,
    not after it): it is called once the write committed, and the checkpoint after it
    needs the copy no more."""
    from lifeboat.core.restore import replace_in_place
    from lifeboat.core.runs import start_run

    target = make_db(tmp_path / "app.db", rows=3_000, payload=2000, wal=True, seed=2)
    verified = make_db(tmp_path / "verified.db", rows=3_000, payload=2000, wal=False, seed=3)
    wanted = content_digest(verified)
    seen: list[str] = []

    def source_read() -> None:
        seen.append(content_digest(target))  # another connection: only committed content
        verified.unlink()

    result = replace_in_place(
        verified,
        target,
        page_size=4096,
        run=start_run(tmp_path / "run"),
        reading=CopyReading(finished=source_read),
    )
    assert result.method == "backup-api"
    assert seen == [wanted]
    assert content_digest(target) == wanted
    assert not Path(f"{target}-wal").exists() or Path(f"{target}-wal").stat().st_size == 0
    reader = sqlite3.connect(target)
    assert reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    reader.close()
