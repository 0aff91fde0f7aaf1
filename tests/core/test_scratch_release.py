"""An in-place restore's copy freed as the write reads it (core/scratch_release.py, the
extraction held a window ahead by core/written_so_far.py, read by
core/restore_steps.copy_into): the database gets exactly the copy's bytes, the copy
never holds more than its header and the window, a writer failing after pages were
freed still rolls the write back, a reader that stops lets the writer go on, and a
check owed after the copy was freed runs on a whole copy extracted again."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.core.manifest import Manifest
from lifeboat.core.page_digest import CONTENT_DIGEST
from lifeboat.core.restore_steps import CopyReading, follow_window
from lifeboat.core.scratch_release import ReadBehind
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.jobs.restore_extract import SnapshotExtraction
from lifeboat.remote.fetch import SnapshotFiles
from tests.core.test_restore_proof import _artifact_of, _corrupt_copy
from tests.core.test_restore_proof import snapshot as snapshot
from tests.core.test_restore_steps import write_reading
from tests.helpers.databases import content_digest, make_db

CHUNK = 1 << 20
WINDOW = 20 << 20  # more than one backup step (16 MiB of 4 KiB pages) waits for
KEEP = 65536


class Extractor:
    """Writes `source` into `dest` (made its whole size first) chunk by chunk as fast as
    `written` lets it, noting how far ahead of the reader each write left it."""

    def __init__(self, source: Path, dest: Path, written: WrittenSoFar, fail_at: int = 0):
        self.data = source.read_bytes()
        self.dest, self.written, self.fail_at = dest, written, fail_at
        self.consumed = [0]  # what the reader said it is done with (set by the reader)
        self.ahead: list[int] = []
        with open(dest, "wb") as out:
            out.truncate(len(self.data))

    def run(self) -> None:
        with open(self.dest, "r+b") as out:
            for start in range(0, len(self.data), CHUNK):
                if self.fail_at and start >= self.fail_at:
                    self.written.fail(CorruptSnapshot("found corrupt while written", ""))
                    return
                out.seek(start)
                out.write(self.data[start : start + CHUNK])
                out.flush()
                end = min(len(self.data), start + CHUNK)
                self.written.reached(end)
                self.ahead.append(end - self.consumed[-1])
        self.written.finish()


def _follow(source: Path, tmp_path: Path, fail_at: int = 0):
    verified = tmp_path / "verified.db"
    written = WrittenSoFar(source.stat().st_size)
    written.freeable = True
    written.follow(WINDOW)
    extractor = Extractor(source, verified, written, fail_at)
    behind = ReadBehind(verified, keep=KEEP)
    assert behind.active, "this platform punches holes (Linux)"
    allocated: list[int] = []

    def done_with(size: int) -> None:
        extractor.consumed.append(size)
        written.consumed(size)
        behind.release(size)
        allocated.append(os.stat(verified).st_blocks * 512)

    return verified, written, extractor, behind, done_with, allocated


def _write(verified, written, done_with, target: Path) -> None:
    ready = lambda size: written.wait_for(size, CancelToken())  # noqa: E731
    write_reading(verified, target, CopyReading(ready=ready, done_with=done_with))


@contextlib.contextmanager
def _extracting(followed):
    """The extraction running in a thread beside the caller's write, stopped after it."""
    _, written, extractor, behind, _, _ = followed
    thread = threading.Thread(target=extractor.run)
    thread.start()
    try:
        yield
    finally:
        written.unfollow()
        behind.close()
        thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of four backup steps (source), a differing live database."""
    source = make_db(tmp_path / "source.db", rows=34_000, payload=2000, seed=1)
    target = make_db(tmp_path / "target.db", rows=9_000, payload=2000, seed=2)
    return source, target


def test_the_copy_holds_only_its_header_and_the_window(pair, tmp_path: Path):
    source, target = pair
    size = source.stat().st_size
    assert size > 3 * WINDOW
    followed = _follow(source, tmp_path)
    verified, written, extractor, _, done_with, allocated = followed
    with _extracting(followed):
        _write(verified, written, done_with, target)
    assert content_digest(target) == content_digest(source)
    assert max(extractor.ahead) <= WINDOW, "the extraction stayed within the window"
    assert len(allocated) >= 4 and allocated[0] < size
    bound = KEEP + WINDOW + CHUNK + 4096
    assert max(allocated) <= bound, f"the copy held {max(allocated)} bytes at most {bound}"
    with open(verified, "rb") as copy, open(source, "rb") as original:
        assert copy.read(KEEP) == original.read(KEEP), "the header every step reads is kept"
    reader = sqlite3.connect(target)
    assert reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    reader.close()


def test_a_writer_failing_after_pages_were_freed_rolls_the_write_back(pair, tmp_path: Path):
    source, target = pair
    before = content_digest(target)
    size = source.stat().st_size
    followed = _follow(source, tmp_path, fail_at=size * 3 // 4)
    verified, written, extractor, _behind, done_with, _allocated = followed
    with _extracting(followed), pytest.raises(CorruptSnapshot):
        _write(verified, written, done_with, target)
    assert max(extractor.consumed) > WINDOW, "pages were copied and freed before it failed"
    assert content_digest(target) == before
    reader = sqlite3.connect(target)
    assert reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    reader.close()


def test_a_writer_held_back_goes_on_once_the_reader_stops(tmp_path: Path):
    written = WrittenSoFar(100 << 20)
    written.freeable = True
    written.follow(WINDOW)
    returned = threading.Event()

    def write() -> None:
        written.reached(WINDOW + CHUNK)  # beyond the window: held
        returned.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not returned.wait(0.3), "held while the reader has consumed nothing"
    written.consumed(CHUNK)
    assert returned.wait(5), "let go once within the window"
    thread.join()
    returned.clear()
    thread = threading.Thread(target=lambda: (written.reached(3 * WINDOW), returned.set()))
    thread.start()
    assert not returned.wait(0.3)
    written.unfollow()  # the reader stopped (done, failed or cancelled)
    assert returned.wait(5)
    thread.join()


def test_a_writer_is_never_held_while_the_reader_waits_for_more_than_it_wrote():
    """A window smaller than one read (a manifest whose page size is not the copy's)
    must not make the two wait for each other: the reader's wait lets the writer on."""
    written = WrittenSoFar(100 << 20)
    written.freeable = True
    written.follow(CHUNK)  # smaller than what the reader will wait for
    finished = threading.Event()

    def write() -> None:
        for end in range(CHUNK, 8 * CHUNK + 1, CHUNK):
            written.reached(end)
        finished.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    give_up = CancelToken()
    timer = threading.Timer(10, give_up.cancel)  # held, the two would wait forever
    timer.start()
    try:
        written.wait_for(6 * CHUNK, give_up)
    finally:
        timer.cancel()
    written.consumed(8 * CHUNK)
    assert finished.wait(5)
    thread.join()


def test_the_range_sqlite_reads_again_at_commit_is_never_freed(tmp_path: Path):
    """Past 1 GiB (SQLite's lock-byte offset) the committing step of a write into a
    database of a larger page size reads the copy's next 64 KiB again: they stay."""
    copy = tmp_path / "copy"
    pending = 0x40000000
    with open(copy, "wb") as out:  # sparse: only the bytes around that range are written
        out.truncate(pending + (1 << 20))
        out.seek(pending - (1 << 20))
        out.write(b"\x5a" * (3 << 20))
    behind = ReadBehind(copy, keep=65536)
    if not behind.active:
        pytest.skip("no hole punching on this platform")
    behind.release(pending + (1 << 20))
    behind.close()
    with open(copy, "rb") as back:
        back.seek(pending - 4096)
        before = back.read(4096)
        kept = back.read(65536)
        after = back.read(4096)
    if before == b"\x5a" * 4096:
        pytest.skip("this file system keeps punched files whole")
    assert before == bytes(4096), "what was read for good is freed"
    assert kept == b"\x5a" * 65536, "the range read again at commit is kept"
    assert after == bytes(4096)


def test_a_refused_punch_keeps_the_copy_whole(tmp_path: Path):
    """A hole punch refused for any reason (here: a file opened read-only by the path's
    owner, EBADF) keeps the copy whole from then on: slower, never an error."""
    copy = tmp_path / "copy"
    copy.write_bytes(b"x" * (1 << 20))
    behind = ReadBehind(copy, keep=4096)
    if not behind.active:
        pytest.skip("no hole punching on this platform")
    behind._fd = os.open(copy, os.O_RDONLY)  # what punching cannot write through
    behind.release(1 << 20)
    assert behind.freed == 0 and not behind.active
    behind.close()
    assert copy.read_bytes() == b"x" * (1 << 20)


def test_following_needs_a_copy_no_check_reads_again():
    with pytest.raises(AssertionError):
        WrittenSoFar(1 << 20).follow(WINDOW)


def _freed_extraction(folder: Path, manifest, tmp_path: Path) -> tuple[SnapshotExtraction, Path]:
    """The snapshot extracted in place, the write having freed all it read."""
    extraction = SnapshotExtraction(
        SnapshotFiles(folder, manifest), "quick", True, no_progress, CancelToken()
    )
    assert extraction.written.freeable
    extraction.written.follow(WINDOW)
    dest = tmp_path / ".lb-0123456789ab-01234567.verified.partial"
    extraction.extract(dest)
    behind = ReadBehind(dest, keep=0)
    behind.release(dest.stat().st_size)
    extraction.written.consumed(dest.stat().st_size)  # as the write says, once freed
    behind.close()
    assert dest.stat().st_blocks == 0, "nothing of the copy is left to check"
    return extraction, dest


def test_an_intact_database_with_a_wrong_digest_is_checked_on_a_whole_copy(snapshot, tmp_path):
    folder, manifest = snapshot
    wrong = replace(manifest, extra={**manifest.extra, CONTENT_DIGEST: "f" * 64})
    extraction, dest = _freed_extraction(folder, wrong, tmp_path)
    extraction.check_owed(dest)  # the proof failed: checked, and the check passes
    assert sorted(p.name for p in tmp_path.glob(".lb-*")) == [dest.name], "no copy left"


def _followed_extraction(
    folder: Path, manifest: Manifest, tmp_path: Path
) -> tuple[SnapshotExtraction, Path]:
    """The snapshot extracted whole while the write follows it, its proof made to fail
    (so a check is owed)."""
    wrong = replace(manifest, extra={**manifest.extra, CONTENT_DIGEST: "f" * 64})
    extraction = SnapshotExtraction(
        SnapshotFiles(folder, wrong), "quick", True, no_progress, CancelToken()
    )
    extraction.written.follow(WINDOW)
    dest = tmp_path / ".lb-0123456789ab-01234567.verified.partial"
    extraction.extract(dest)
    return extraction, dest


def test_a_copy_read_whole_is_checked_itself_not_extracted_again(snapshot, tmp_path):
    """Followed, but read whole (a file replace stops following before it reads): the
    check owed reads the copy, not the artifact again (here moved away meanwhile)."""
    folder, manifest = snapshot
    extraction, dest = _followed_extraction(folder, manifest, tmp_path)
    extraction.written.unfollow()
    artifact = folder / manifest.stored_name
    artifact.rename(tmp_path / "moved-away")
    try:
        extraction.check_owed(dest)
    finally:
        (tmp_path / "moved-away").rename(artifact)
    assert sorted(p.name for p in tmp_path.glob(".lb-*")) == [dest.name], "no copy left"


def test_a_copy_still_followed_is_never_checked_itself(snapshot, tmp_path):
    """The write still follows the copy (here: smaller than the window, extracted before
    the write read any of it) and may free any of it at any moment, even while a check
    would read it: the check runs on a whole copy of its own. The copy freed meanwhile
    (before the write says it consumed it) does not make an intact snapshot fail."""
    folder, manifest = snapshot
    extraction, dest = _followed_extraction(folder, manifest, tmp_path)
    behind = ReadBehind(dest, keep=0)
    behind.release(dest.stat().st_size)  # freed; the write has not said so yet
    behind.close()
    extraction.check_owed(dest)
    assert sorted(p.name for p in tmp_path.glob(".lb-*")) == [dest.name], "no copy left"


def test_a_corrupt_database_with_a_wrong_digest_fails_the_check_on_a_whole_copy(
    snapshot, tmp_path: Path
):
    folder, manifest = snapshot
    crafted = _artifact_of(_corrupt_copy(tmp_path), folder, manifest)
    crafted = replace(crafted, extra={**crafted.extra, CONTENT_DIGEST: "0" * 64})
    extraction, dest = _freed_extraction(folder, crafted, tmp_path)
    with pytest.raises(CorruptSnapshot, match="fails its integrity check"):
        extraction.check_owed(dest)
    assert sorted(p.name for p in tmp_path.glob(".lb-*")) == [dest.name], "no copy left"


@pytest.mark.parametrize("live_now", ["wal", "rollback-journal", "wal-other-page-size"])
def test_a_restore_in_place_larger_than_the_window_restores_exactly(
    cli, tmp_path: Path, caplog: pytest.LogCaptureFixture, live_now: str
):
    """The whole job (jobs/restore_in_place.py), whatever the live database is now: the
    copy followed and freed where the backup API writes it (the extraction held back and
    let on as the write reads, else it would never end); read whole, never freed, where
    the database's file is replaced (a WAL database of another page size)."""
    caplog.set_level(logging.DEBUG, logger="lifeboat.jobs.restore_in_place")
    db = make_db(tmp_path / "live.db", rows=45_000, payload=2000, seed=4)
    assert db.stat().st_size > follow_window(4096) + (32 << 20)
    assert cli("source", "add", str(db), "--name", "live").code == 0
    taken = cli("backup", "live", "--json")
    assert taken.code == 0, taken.err
    snap = json.loads(taken.out)["id"]
    wanted = content_digest(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("update items set name = 'changed since' where id % 7 = 0")
    if live_now != "wal":
        conn.execute("pragma journal_mode=delete")
    if live_now == "wal-other-page-size":
        conn.execute("pragma page_size=8192")
        conn.execute("vacuum")
        conn.execute("pragma journal_mode=wal")
    conn.close()
    results: list = []
    # in a thread of its own: a write and an extraction waiting for each other fail here
    running = threading.Thread(target=lambda: results.append(cli("restore", snap, "--yes")))
    running.daemon = True
    running.start()
    running.join(90)
    assert results, "the restore never ended: the write and the extraction wait for each other"
    restored = results[0]
    assert restored.code == 0, restored.err
    freed = [r.getMessage() for r in caplog.records if "freed behind the write" in r.getMessage()]
    if live_now == "wal-other-page-size":
        assert not freed or int(freed[0].split()[0]) == 0, freed
    else:
        assert freed and int(freed[0].split()[0]) > 32, freed
    assert content_digest(db) == wanted
    reader = sqlite3.connect(db)
    assert reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    reader.close()


def test_a_copy_its_failed_writer_removed_is_not_an_error_of_the_reader(tmp_path: Path):
    """The extraction found damage and removed the copy while the write still reads it:
    freeing finds nothing to free (the write then gets the writer's own error)."""
    copy = tmp_path / "copy"
    copy.write_bytes(b"x" * (1 << 20))
    behind = ReadBehind(copy, keep=4096)
    copy.unlink()
    behind.release(1 << 20)
    assert behind.freed == 0
    assert not copy.exists(), "nothing was created in its place"
    behind.close()
