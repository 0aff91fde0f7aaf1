"""Descriptors of live database files kept open (core/kept_descriptors.py): a pinned one
is never closed under its holder, a replaced file's goes once unpinned, and only the
least recently read unpinned ones beyond UNPINNED_KEPT are closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lifeboat.core import kept_descriptors
from lifeboat.core.kept_descriptors import pinned, read_start, unpin


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_pinned_descriptor_outlives_a_replace_and_goes_once_unpinned(tmp_path: Path):
    db = tmp_path / "a.db"
    db.write_bytes(b"old" * 40)
    fd, identity = pinned(db)
    assert read_start(db, 3)[0] == b"old"
    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(b"new" * 40)
    os.replace(fresh, db)  # a restore replaced it
    assert read_start(db, 3)[0] == b"new"
    assert _open(fd) and os.pread(fd, 3, 0) == b"old", "its holder still reads its file"
    unpin(fd)
    assert not _open(fd) or os.fstat(fd).st_ino != identity[1], "retired, then closed"


def test_only_the_least_recently_read_unpinned_ones_beyond_the_bound_are_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(kept_descriptors, "UNPINNED_KEPT", 2)
    paths = []
    for n in range(4):
        path = tmp_path / f"{n}.db"
        path.write_bytes(bytes([n]) * 10)
        paths.append(path)
    held, _ = pinned(paths[0])
    for path in paths[1:]:
        read_start(path, 1)
    read_start(paths[1], 1)  # read again: now more recent than 2
    kept = kept_descriptors._kept
    assert os.fspath(paths[0]) in kept, "pinned: never closed"
    assert {os.fspath(p) for p in paths[1:]} & set(kept) == {
        os.fspath(paths[1]),
        os.fspath(paths[3]),
    }
    assert os.pread(held, 1, 0) == b"\0"
    unpin(held)
