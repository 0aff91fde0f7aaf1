"""A full disk while a sealed history segment is written (through the age encryption,
in a thread of its own) is reported as a full disk (SAFETY rule 10), not as a sealing
failure of no particular kind, and leaves no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
import pytest

from lifeboat.core.history.chain import write_segment
from lifeboat.core.history.segment import CommitRecord, SegmentHeader
from lifeboat.core.private import disk_full, disk_full_error, private_dir
from lifeboat.core.runs import start_run


def test_a_full_disk_while_sealing_a_segment_is_a_full_disk(small_disk, tmp_path: Path):
    disk = small_disk(1)
    folder = private_dir(disk / "history", "history folder")
    run = start_run(tmp_path / "run")
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    pages = {n: os.urandom(4096) for n in range(1, 512)}  # 2 MiB that do not compress
    header = SegmentHeader(4096, "0badcafe", "00" * 32, 1, bytes(16), 1, 1)
    commit = CommitRecord(1, 1_000_000, 512, 0, pages)
    with pytest.raises(OSError) as raised:
        write_segment(folder, run, "notes", header, [commit], bytes(16), seal_to=[recipient])
    assert disk_full(raised.value), repr(raised.value)
    error = disk_full_error(raised.value)
    assert error is not None and "full" in error.message
    assert os.listdir(folder) == [], "its work file is gone"


def test_a_full_disk_under_the_age_encryption_keeps_its_errno(small_disk):
    """The sealing thread's own failure: pyrage wraps the OSError of a full disk in its
    EncryptError; the writer must raise the OSError itself (its errno says "the disk is
    full"), even when nothing else writes to the file again (an unbuffered file, whose
    close has nothing left to flush: the test above passes by that second error too)."""
    from lifeboat.core.history.sealing import SealingWriter
    from lifeboat.core.private import create_file

    disk = small_disk(1)
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    with os.fdopen(create_file(disk / "sealed"), "wb", buffering=0) as out:
        sealing = SealingWriter(out, [recipient])  # type: ignore[arg-type]
        with pytest.raises(OSError) as raised:
            try:
                for _ in range(32):
                    sealing.write(os.urandom(1 << 16))  # 2 MiB onto a 1 MiB disk
            finally:
                sealing.close()
    assert disk_full(raised.value), repr(raised.value)
    error = disk_full_error(raised.value)
    assert error is not None and "is full" in error.message, error
