"""A full disk while an artifact is written around the page cache (core/direct_stream.py,
its writes on a thread of their own): the error reaches the caller, never lost in the
thread, and the half-written artifact is removed."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from lifeboat.core.direct_stream import DirectStream
from lifeboat.core.direct_writes import BUFFER
from lifeboat.core.seekable_write import compress_frames
from lifeboat.foundation.errors import OperationFailed


def test_a_full_disk_is_raised_in_the_caller(small_disk):
    disk = small_disk(8)
    fd = os.open(disk / "artifact", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    stream = DirectStream(fd)
    try:
        with pytest.raises(OSError) as raised:
            for _ in range(16):
                stream.write(os.urandom(BUFFER // 2))
            stream.finish()
        assert raised.value.errno == errno.ENOSPC
    finally:
        stream.close()
        os.close(fd)
    assert not [t for t in threading.enumerate() if t.name == "lifeboat-write"]


@pytest.mark.parametrize("direct", [True, False])
def test_an_artifact_that_does_not_fit_is_removed_and_said(small_disk, direct: bool):
    disk = small_disk(8)
    dest: Path = disk / "snapshot.sqlite.zst"
    frames = [os.urandom(128 << 10) for _ in range(12 * 8)]  # 12 MiB that do not compress
    with pytest.raises(OperationFailed) as raised:
        compress_frames(frames, dest, size=None, direct=direct)
    assert "disk full" in str(raised.value)
    assert not dest.exists()
    assert sorted(p.name for p in disk.iterdir()) == []
