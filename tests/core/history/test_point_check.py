"""A point's integrity check runs on the finished work file beside its fsync (points.py
`_synced_and_checked`), before anything is published.

Each corruption here is written into a history segment as a commit whose state digest is
recomputed (so the segment and the rebuild's digest proof are valid: only SQLite's check
can tell), and the restore's own check (jobs/restore_point.point_check) must refuse it:
nothing at the destination, no work file left, the error naming the failed check. The
healthy point published beside them is compared byte for byte with its pages applied by
brute force on the base's bytes.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.history.bases import base_pages, base_state
from lifeboat.core.history.chain import describe, write_segment
from lifeboat.core.history.page_writer import PageWriter, WriteFailed
from lifeboat.core.history.points import RewrittenPages, rebuild_point, resolve_point
from lifeboat.core.history.segment import CommitRecord, SegmentHeader
from lifeboat.core.results import PointChoice
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.jobs.restore_point import point_check
from tests.core.history.helpers import Capture, make_capture

_PAGE = 4096


def _database(tmp_path: Path) -> Path:
    """200 rows of a page each, the second half deleted: a freelist of about 100 pages."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(3000))", [(k,) for k in range(1, 201)]
    )
    conn.execute("delete from items where id > 100")
    conn.close()
    return db


def _base_bytes(capture: Capture, base) -> bytes:  # type: ignore[no-untyped-def]
    with base_pages(base, capture.run, capture.scratch) as pages:
        return b"".join(bytes(page) for page in pages)


def _point_with(capture: Capture, base, pages: dict[int, bytes], page_count: int):  # type: ignore[no-untyped-def]
    """A segment of one commit writing `pages` (its state digest recomputed: valid)."""
    state = base_state(base, capture.run, capture.scratch)
    previous = state.digest()
    commit = CommitRecord(1, 1_000, page_count, 0, pages)
    state.apply(commit.pages, commit.page_count)
    header = SegmentHeader(_PAGE, base.id, base.manifest.sha256, 1, previous, 1, 1)
    path, _ = write_segment(capture.folder, capture.run, "notes", header, [commit], state.digest())
    point = resolve_point(base, [describe(path)], 1_000)
    assert point is not None and point.end_digest == state.digest()
    return point


def _choice() -> PointChoice:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    return PointChoice("notes", moment, "base", 1, moment, 0)


def _page(data: bytes, number: int) -> bytes:
    return data[(number - 1) * _PAGE : number * _PAGE]


def _corruptions(original: bytes) -> dict[str, tuple[dict[int, bytes], int]]:
    """name -> (pages the commit writes, its page count)."""
    count = len(original) // _PAGE
    trunk = int.from_bytes(original[32:36], "big")
    assert trunk, "the database has a freelist"
    looped = bytearray(_page(original, trunk))
    looped[0:4] = trunk.to_bytes(4, "big")  # the trunk's next trunk: itself
    leaf = 50  # a leaf of items (rows 1-100 are kept, one a page)
    garbage = bytes((i * 7 + 3) % 251 for i in range(_PAGE))
    twice = bytearray(_page(original, 1))  # the header's freelist count one too many
    twice[36:40] = (int.from_bytes(original[36:40], "big") + 1).to_bytes(4, "big")
    return {
        "a leaf of garbage": ({leaf: garbage}, count),
        "a freelist loop": ({trunk: bytes(looped)}, count),
        "truncated below its rows": ({}, 30),
        "a wrong freelist count": ({1: bytes(twice)}, count),
    }


@pytest.mark.parametrize(
    "corruption",
    ["a leaf of garbage", "a freelist loop", "truncated below its rows", "a wrong freelist count"],
)
def test_a_corrupt_point_with_valid_checksums_is_refused_and_nothing_is_left(
    tmp_path: Path, corruption: str
):
    capture = make_capture(tmp_path, _database(tmp_path))
    base = capture.take_base()
    original = _base_bytes(capture, base)
    pages, count = _corruptions(original)[corruption]
    point = _point_with(capture, base, pages, count)
    dest = tmp_path / "restored.db"
    check = point_check(_choice(), "quick")
    assert check is not None
    with pytest.raises(CorruptSnapshot, match="fails its integrity check"):
        rebuild_point(point, dest, capture.run, capture.scratch, check)
    assert not dest.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lb-")]


def test_the_check_reads_the_finished_file_before_it_is_published(tmp_path: Path):
    """The check gets the whole work file (the very bytes then published), while the
    destination does not exist yet; a check that raises anything publishes nothing."""
    capture = make_capture(tmp_path, _database(tmp_path))
    base = capture.take_base()
    original = _base_bytes(capture, base)
    count = len(original) // _PAGE
    changed = {10: bytes(_page(original, 10)), count + 1: bytes(_PAGE)}  # grows by a page
    point = _point_with(capture, base, changed, count + 1)
    dest = tmp_path / "restored.db"
    seen: dict[str, object] = {}
    real = point_check(_choice(), "quick")
    assert real is not None

    def check(path: Path, written: RewrittenPages) -> None:
        seen["published"] = dest.exists()
        seen["bytes"] = path.read_bytes()
        seen["name"] = path.name
        real(path, written)

    rebuild_point(point, dest, capture.run, capture.scratch, check)
    expected = bytearray(original) + bytes(_PAGE)
    expected[18:20] = b"\x01\x01"  # a standalone file: journal mode DELETE
    assert dest.read_bytes() == bytes(expected)  # brute force: the base, its pages applied
    assert seen["published"] is False and seen["bytes"] == bytes(expected)
    assert str(seen["name"]).startswith(".lb-") and str(seen["name"]).endswith(".partial")

    def refuse(path: Path, written: RewrittenPages) -> None:
        raise RuntimeError("stop here")

    again = tmp_path / "again.db"
    with pytest.raises(RuntimeError, match="stop here"):
        rebuild_point(point, again, capture.run, capture.scratch, refuse)
    assert not again.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lb-")]


def test_a_write_that_fails_in_the_writer_thread_is_raised_and_nothing_hangs(tmp_path: Path):
    """More blocks than the writer's queue holds, to a file it cannot write (opened for
    reading): the error comes back as WriteFailed, never a hang on a full queue."""
    path = tmp_path / "file"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        writer = PageWriter(fd, flush_while_writing=False)
        with pytest.raises(WriteFailed):
            try:
                for number in range(64):
                    writer.write(bytes(1 << 20), number << 20)
                writer.close()
            finally:
                writer.stop()
    finally:
        os.close(fd)
