"""A point written straight by the threads that make its pages (history/direct_rebuild.py):
a base frame whose pages the point all takes from the segments is not decompressed, yet
the base is still proven whole (its SHA-256); a point whose pages do not hash to the state
its segment recorded is refused; the finished prefix is counted right whichever producer
is behind."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from lifeboat.core import direct_writes
from lifeboat.core.history import direct_rebuild
from lifeboat.core.history.bases import base_state
from lifeboat.core.history.chain import describe, write_segment
from lifeboat.core.history.finished_prefix import FinishedPrefix
from lifeboat.core.history.points import rebuild_point, resolve_point
from lifeboat.core.history.rebuild import build_map, open_segments
from lifeboat.core.history.segment import CommitRecord, SegmentHeader
from lifeboat.core.seekable import seek_entries
from lifeboat.foundation.errors import CorruptSnapshot, OperationFailed
from tests.core.history.helpers import make_capture
from tests.core.history.test_points_blocks import Clock, _as_restored

_ROW = 3000  # one row a page (4 KiB pages)


def _no_work_files(folder: Path) -> bool:
    return not [n for n in os.listdir(folder) if n.startswith(".lb-")]


def _rewritten_history(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A base of 600 one-page rows, then one commit rewriting rows 1-300 (whole frames of
    the base) and adding rows. Returns the capture, the point and the bytes expected."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(1, 601)]
    )
    conn.execute("pragma wal_checkpoint(truncate)")
    capture = make_capture(tmp_path, db)
    clock = Clock()
    follower = capture.follower(clock=clock)
    follower.start()
    chain = follower.status.chain
    assert chain is not None
    conn.execute(f"update items set v = randomblob({_ROW}) where id <= 300")
    conn.execute(f"insert into items(v) select randomblob({_ROW}) from items where id <= 50")
    clock.us += 1_000_000
    follower.poll()
    want = _as_restored(db, conn)
    follower.close()
    conn.close()
    point = capture.point(chain, clock.us)
    assert point is not None and point.end_digest is not None
    return capture, point, want


def _whole_frames_rewritten(capture, point) -> list[int]:  # type: ignore[no-untyped-def]
    """The base's frames every page of which the point takes from its segments."""
    entries = seek_entries(point.base.artifact)
    assert entries is not None
    with open_segments(point) as readers:
        listed = set(build_map(point, readers).listed)
    frames, page = [], 1
    for number, entry in enumerate(entries):
        pages = range(page, page + entry.decompressed // 4096)
        if entry.decompressed and all(n in listed for n in pages):
            frames.append(number)
        page += len(pages)
    return frames


@pytest.mark.parametrize(
    ("kept", "buffered"),
    [(True, False), (True, True), (False, False)],
    ids=["kept-around-the-cache", "kept-buffered-by-the-environment", "scratch-through-the-cache"],
)
def test_the_point_is_the_same_written_around_the_page_cache_or_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: bool, buffered: bool
):
    """core/direct_writes.py: a kept restore's base pages go with O_DIRECT where the file
    system takes it (the tests' own ext4 here), buffered where it is turned off, and a
    scratch file through the cache; the bytes are the same."""
    if buffered:
        monkeypatch.setenv("LIFEBOAT_BUFFERED_WRITES", "1")
    capture, point, want = _rewritten_history(tmp_path)
    rebuilt = rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch, kept=kept)
    assert rebuilt.path.read_bytes() == want and _no_work_files(tmp_path)


def test_a_base_frame_the_point_rewrote_whole_is_skipped_yet_proven(tmp_path: Path):
    capture, point, want = _rewritten_history(tmp_path)
    skipped = _whole_frames_rewritten(capture, point)
    assert skipped, "no frame of the base rewritten whole: nothing to prove"
    rebuilt = rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch)
    assert rebuilt.path.read_bytes() == want
    # A byte of a skipped frame flipped: never decompressed (zstd would name the frame),
    # the whole file's SHA-256 still refuses the base, and nothing is left.
    entries = seek_entries(point.base.artifact)
    assert entries is not None
    at = sum(e.compressed for e in entries[: skipped[0]]) + entries[skipped[0]].compressed // 2
    data = bytearray(point.base.artifact.read_bytes())
    data[at] ^= 0x20
    point.base.artifact.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshot, match="does not match its manifest"):
        rebuild_point(point, tmp_path / "again.db", capture.run, capture.scratch)
    assert not (tmp_path / "again.db").exists() and _no_work_files(tmp_path)


def test_a_point_whose_pages_do_not_hash_to_the_recorded_state_is_refused(tmp_path: Path):
    """A segment whose recorded end state is not what its commits make (the state of
    one commit fewer): the rebuilt pages' digest differs, nothing is published."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(1, 301)]
    )
    conn.close()
    capture = make_capture(tmp_path, db)
    base = capture.take_base()
    state = base_state(base, capture.run, capture.scratch)
    first = CommitRecord(1, 1_000, state.page_count, 0, {5: b"\x05" * 4096})
    last = CommitRecord(2, 2_000, state.page_count + 1, 0, {state.page_count + 1: b"\x07" * 4096})
    previous = state.digest()
    state.apply(first.pages, first.page_count)
    wrong = state.digest()  # the state after the first commit only
    header = SegmentHeader(4096, base.id, base.manifest.sha256, 1, previous, 1, 2)
    path, _ = write_segment(capture.folder, capture.run, "notes", header, [first, last], wrong)
    point = resolve_point(base, [describe(path)], 2_000)
    assert point is not None and point.end_digest == wrong
    with pytest.raises(CorruptSnapshot, match="does not rebuild to the state"):
        rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch)
    assert not (tmp_path / "p.db").exists() and _no_work_files(tmp_path)


@pytest.mark.parametrize(
    ("steps", "finished"),
    [
        ([("base", 10)], (0, 0)),  # the images have said nothing yet
        ([("base", 10), ("images", 4)], (4, 0)),
        ([("images", 40), ("base", 10)], (10, 0)),
        ([("images", 40), ("base", 10), ("base", 50)], (40, 0)),
        # past the base's last page (200) the images' pages are theirs alone
        ([("images", 250), ("base", 10)], (10, 250)),
        ([("base", 10), ("images", 4), ("images", 300), ("base", 300)], (300, 300)),
    ],
)
def test_what_is_finished_is_what_both_producers_wrote(steps, finished):  # type: ignore[no-untyped-def]
    prefix = FinishedPrefix(-1, 4096, enabled=False, base_last=200)
    for side, page in steps:
        getattr(prefix, side)(page)
    assert prefix.finished == finished
    prefix.close()


def _descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _takes_direct_io(folder: Path) -> bool:
    probe = folder / "direct-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    probe.unlink()
    return True


def test_the_direct_descriptor_failing_to_close_is_said_as_the_disks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A kept restore's second descriptor (core/direct_writes.py) is closed before the
    final fsync. On a network or FUSE file system close(2) flushes the file and reports
    what failed (NFS's nfs_file_flush and CIFS's cifs_flush write back every dirty page
    of the file, the images' written through the cache included): EIO, ENOSPC, EDQUOT.
    That is the disk's failure, said in one line; nothing is kept, no descriptor left.
    (The error is injected: the file systems whose close reports one are not here.)"""
    if not _takes_direct_io(tmp_path):
        pytest.skip("this file system takes no O_DIRECT")
    capture, point, _ = _rewritten_history(tmp_path)
    opened: list[int] = []
    real_open, real_close = direct_writes._direct_descriptor, os.close

    def direct_descriptor(fd: int) -> int | None:
        got = real_open(fd)
        if got is not None:
            opened.append(got)
        return got

    def close(fd: int) -> None:
        real_close(fd)  # Linux: the descriptor is gone even when close reports an error
        if fd in opened:
            opened.remove(fd)
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(direct_writes, "_direct_descriptor", direct_descriptor)
    monkeypatch.setattr(direct_writes.os, "close", close)
    before = _descriptors()
    with pytest.raises(OperationFailed, match="reported an input/output error"):
        rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch, kept=True)
    monkeypatch.undo()
    assert not (tmp_path / "p.db").exists() and _no_work_files(tmp_path)
    assert _descriptors() == before


def test_a_rebuild_that_cannot_start_its_writers_leaves_no_descriptor_or_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The direct descriptor is opened before the images' writer and the writeback's
    thread are made; one of them failing to start (no thread to be had) must not leave
    the descriptor open (it would hold the unlinked work file's blocks for as long as
    the process lives: the tray's is days) nor the writeback's thread waiting."""
    if not _takes_direct_io(tmp_path):
        pytest.skip("this file system takes no O_DIRECT")
    capture, point, _ = _rewritten_history(tmp_path)

    def no_thread(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(direct_rebuild, "ImagesWriter", no_thread)
    before = _descriptors()
    with pytest.raises(RuntimeError, match="can't start new thread"):
        rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch, kept=True)
    assert not (tmp_path / "p.db").exists() and _no_work_files(tmp_path)
    assert _descriptors() == before
    assert not [t for t in threading.enumerate() if t.name == "lifeboat-writeback"]
