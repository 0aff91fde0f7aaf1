"""core/writeback.py: a growing file's chunks are sent to disk as it is written; the
system calls are made with the right arguments (a bad descriptor is an error, not
ignored), and the file's bytes are what was written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lifeboat.core import writeback
from lifeboat.core.private import create_file


@pytest.mark.parametrize("native", [True, False])
def test_chunks_are_written_back_and_the_bytes_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
):
    monkeypatch.setattr(writeback, "CHUNK", 64 << 10)  # many chunks in a small file
    if not native:  # the fallback of systems without sync_file_range: fdatasync
        monkeypatch.setattr(writeback, "sync_file_range", lambda: None)
    path = tmp_path / "grow.db"
    fd = create_file(path)
    expected = bytearray()
    try:
        back = writeback.Writeback(fd)
        for number in range(40):
            block = bytes([number]) * (24 << 10)
            os.write(fd, block)
            expected += block
            back.reached(len(expected))
        assert back._started > 2 * writeback.CHUNK  # chunks were really started
    finally:
        os.close(fd)
    assert path.read_bytes() == bytes(expected)


@pytest.mark.skipif(writeback.sync_file_range() is None, reason="no sync_file_range here")
def test_an_error_of_the_kernel_is_raised(tmp_path: Path):
    path = tmp_path / "f"
    fd = create_file(path)
    os.write(fd, b"x" * 100)
    back = writeback.Writeback(fd)
    os.close(fd)  # the descriptor is no longer valid: EBADF
    with pytest.raises(OSError):
        back.reached(writeback.CHUNK)
