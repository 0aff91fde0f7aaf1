"""The file stamp that proves nothing wrote a database between two readings
(core/file_stamp.py): pure logic on plain values."""

from __future__ import annotations

import pytest

from lifeboat.core.file_stamp import FileStamp, granularity_room_ns

MS = 1_000_000
FINE = 1_796_000_000_123_456_789  # a nanosecond file time
WHOLE = 1_796_000_000_000_000_000  # whole seconds: ext4 with small inodes, FAT


def stamp(times: int, read_at: int, counter: bytes = b"\0\0\0\7", size: int = 4096) -> FileStamp:
    return FileStamp(counter, size, times, times, read_at)


@pytest.mark.parametrize(
    ("file_time", "room_ms"),
    [(FINE, 50), (WHOLE, 2050), (1_796_000_000_120_000_000, 60), (1_796_000_000_123_000_000, 50)],
)
def test_the_room_after_a_file_time_covers_its_file_system_s_granularity(file_time, room_ms):
    assert granularity_room_ns(file_time) == room_ms * MS


@pytest.mark.parametrize(
    ("file_time", "read_after_ms", "settled"),
    [(FINE, 10, False), (FINE, 51, True), (WHOLE, 1000, False), (WHOLE, 2100, True)],
)
def test_a_stamp_settles_once_a_later_write_must_get_another_time(
    file_time, read_after_ms, settled
):
    assert stamp(file_time, file_time + read_after_ms * MS).settled is settled


def test_equal_readings_prove_nothing_wrote_only_after_a_settled_one():
    earlier = stamp(FINE, FINE + 100 * MS)
    assert stamp(FINE, FINE + 900 * MS).unchanged_since(earlier)
    unsettled = stamp(FINE, FINE + 5 * MS)
    assert not stamp(FINE, FINE + 900 * MS).unchanged_since(unsettled)


@pytest.mark.parametrize(
    "later",
    [
        stamp(FINE, FINE + 900 * MS, counter=b"\0\0\0\x08"),  # a commit
        stamp(FINE, FINE + 900 * MS, size=8192),  # grown
        FileStamp(b"\0\0\0\7", 4096, FINE, FINE + 3 * MS, FINE + 900 * MS),  # rolled back
        FileStamp(b"\0\0\0\7", 4096, FINE + 3 * MS, FINE, FINE + 900 * MS),
    ],
)
def test_any_difference_means_the_file_may_have_been_written(later):
    assert not later.unchanged_since(stamp(FINE, FINE + 100 * MS))


def _settled_stamp(fd: int) -> FileStamp:
    from tests.helpers.waiting import wait_until

    def settled() -> FileStamp | None:
        now = FileStamp.of(b"\0\0\0\7", fd)
        return now if now.settled else None

    return wait_until(settled, "the file's times to settle")


def test_a_write_whose_modification_time_is_put_back_is_still_seen(tmp_path):
    """On a real file: a writer that rewrites bytes in place (same size, same counter)
    and sets the modification time back (utimensat, as a restoring tool does) still
    moves the status-change time, which nobody can set: the stamp says it was written."""
    import os

    path = tmp_path / "db"
    path.write_bytes(b"a" * 8192)
    fd = os.open(path, os.O_RDWR)
    try:
        before = _settled_stamp(fd)
        os.pwrite(fd, b"b" * 4096, 0)
        os.utime(fd, ns=(before.mtime_ns, before.mtime_ns))
        after = FileStamp.of(b"\0\0\0\7", fd)
        assert after.mtime_ns == before.mtime_ns and after.size == before.size
        assert not after.unchanged_since(before)
    finally:
        os.close(fd)
