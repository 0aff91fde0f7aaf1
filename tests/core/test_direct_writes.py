"""core/direct_writes.py: writes around the page cache give the same bytes as buffered
ones, from any thread, in pieces of any size; where the file system or the write's
alignment does not allow it, writes go buffered and nothing is lost; the caller's
descriptor is never switched, and the second one is closed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lifeboat.core import direct_writes
from lifeboat.core.direct_writes import ALIGN, BUFFER, DirectWrites
from tests.core.direct_io_probe import open_descriptors, takes_direct_io

_PAGE = 4096


def _is_direct(fd: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


@pytest.fixture
def new_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "out.db"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    yield path, fd
    os.close(fd)


def test_pages_written_around_the_cache_read_back_exactly(new_file, tmp_path: Path):  # type: ignore[no-untyped-def]
    if not takes_direct_io(tmp_path):
        pytest.skip("this file system takes no O_DIRECT")
    path, fd = new_file
    per_buffer = BUFFER // _PAGE
    pages = [os.urandom(_PAGE) for _ in range(3 * per_buffer + 7)]
    before = open_descriptors()
    out = DirectWrites(fd, _PAGE)
    assert out.direct and not _is_direct(fd) and open_descriptors() == before + 1
    cut = per_buffer + 3  # one write larger than the buffer
    out.write(b"".join(pages[:cut]), 0)
    out.write_pieces(pages[cut : 2 * cut], cut * _PAGE)  # pieces gathered
    out.write_cached(pages[2 * cut : 2 * cut + 5], 2 * cut * _PAGE)
    out.write(memoryview(b"".join(pages[2 * cut + 5 :])), (2 * cut + 5) * _PAGE)
    out.close()
    assert not out.direct and open_descriptors() == before
    assert path.read_bytes() == b"".join(pages)


def test_threads_writing_their_own_stretches_at_once(new_file, tmp_path: Path):  # type: ignore[no-untyped-def]
    path, fd = new_file
    out = DirectWrites(fd, _PAGE)
    stretch = 3 * BUFFER // _PAGE + 5  # pages per thread, not a whole number of buffers
    data = [os.urandom(stretch * _PAGE) for _ in range(4)]
    threads = [
        threading.Thread(target=out.write, args=(data[n], n * stretch * _PAGE)) for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()
    assert path.read_bytes() == b"".join(data)


@pytest.mark.parametrize("unit", [512, 1024, 2048])
def test_pages_smaller_than_the_alignment_are_written_buffered(new_file, unit: int):  # type: ignore[no-untyped-def]
    path, fd = new_file
    out = DirectWrites(fd, unit)
    assert not out.direct
    data = os.urandom(unit * 9)
    out.write_pieces([data[: unit * 4], data[unit * 4 :]], unit)
    out.close()
    assert path.read_bytes() == bytes(unit) + data


def test_a_write_that_cannot_be_aligned_goes_buffered(new_file, tmp_path: Path):  # type: ignore[no-untyped-def]
    if not takes_direct_io(tmp_path):
        pytest.skip("this file system takes no O_DIRECT")
    path, fd = new_file
    out = DirectWrites(fd, _PAGE)
    assert out.direct
    head, odd, tail = os.urandom(_PAGE), os.urandom(ALIGN // 2), os.urandom(_PAGE)
    out.write(head, 0)
    out.write(odd, _PAGE)  # half a block: not alignable, written buffered
    assert out.direct  # the kernel was not asked: direct writes go on
    out.write(tail, 2 * _PAGE)
    out.close()
    assert path.read_bytes() == head + odd + bytes(ALIGN // 2) + tail


def test_a_file_system_without_direct_io_is_written_buffered(tmp_path: Path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or takes_direct_io(shm):
        pytest.skip("no file system without O_DIRECT here")
    path = shm / f"lifeboat-test-{os.getpid()}-{threading.get_ident()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        out = DirectWrites(fd, _PAGE)
        assert not out.direct
        data = os.urandom(5 * _PAGE)
        out.write(data, 0)
        out.close()
        assert path.read_bytes() == data
    finally:
        os.close(fd)
        path.unlink()


def test_turned_off_by_the_environment(new_file, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LIFEBOAT_BUFFERED_WRITES", "1")
    _, fd = new_file
    assert not DirectWrites(fd, _PAGE).direct


def test_a_disk_error_is_raised_not_swallowed(new_file, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Only EINVAL (a direct write refused) falls back; any other failure is the disk's."""
    _, fd = new_file
    out = DirectWrites(fd, _PAGE)

    def full(*_args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(direct_writes.os, "pwrite", full)
    monkeypatch.setattr(direct_writes.os, "pwritev", full)
    with pytest.raises(OSError, match="No space left"):
        out.write_pieces([os.urandom(_PAGE), os.urandom(_PAGE)], 0)
    out.close()


def test_a_direct_write_the_kernel_refuses_goes_buffered_and_so_does_the_rest(
    new_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):  # type: ignore[no-untyped-def]
    """EINVAL from a direct write (a device whose sectors are larger than 4096 bytes):
    that write and every later one buffered; the direct descriptor closed at the end."""
    if not takes_direct_io(tmp_path):
        pytest.skip("this file system takes no O_DIRECT")
    path, fd = new_file
    before = open_descriptors()
    out = DirectWrites(fd, _PAGE)
    real = direct_writes.os.pwrite

    def refuse_direct(target: int, data: object, offset: int) -> int:
        if target != fd:
            raise OSError(22, "Invalid argument")
        return real(target, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(direct_writes.os, "pwrite", refuse_direct)
    first, second = os.urandom(3 * _PAGE), os.urandom(2 * _PAGE)
    out.write(first, 0)
    assert not out.direct
    out.write_pieces([second[:_PAGE], second[_PAGE:]], 3 * _PAGE)
    out.close()
    assert open_descriptors() == before
    assert path.read_bytes() == first + second


def test_more_pieces_than_one_pwritev_takes(new_file):  # type: ignore[no-untyped-def]
    path, fd = new_file
    out = DirectWrites(fd, 512)
    pieces = [os.urandom(512) for _ in range(1500)]  # past IOV_MAX
    out.write_pieces(pieces, 0)
    out.close()
    assert path.read_bytes() == b"".join(pieces)
