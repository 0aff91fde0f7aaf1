"""Descriptors of live database files kept open (core/kept_descriptors.py): a pinned one
is never closed under its holder, a replaced file's goes once unpinned, and only the
beyond UNPINNED_KEPT only the unpinned ones of files gone are closed."""

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


def test_beyond_the_bound_only_descriptors_of_files_gone_are_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(kept_descriptors, "UNPINNED_KEPT", 2)
    paths = []
    for n in range(5):
        path = tmp_path / f"{n}.db"
        path.write_bytes(bytes([n]) * 10)
        paths.append(path)
    held, _ = pinned(paths[0])
    for path in paths[1:4]:
        read_start(path, 1)
    kept = kept_descriptors._kept
    # Over the bound, but every file is still there: none is closed (this process may
    # hold SQLite locks on any of them, which a close would drop).
    assert {os.fspath(p) for p in paths[:4]} <= set(kept)
    paths[1].unlink()  # gone: its descriptor protects nothing any more
    read_start(paths[4], 1)
    assert os.fspath(paths[1]) not in kept
    assert {os.fspath(p) for p in (paths[0], *paths[2:])} <= set(kept)
    assert os.pread(held, 1, 0) == b"\0", "pinned: never closed"
    unpin(held)


def test_past_the_limit_the_least_recent_go_even_if_still_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(kept_descriptors, "UNPINNED_KEPT", 1)
    monkeypatch.setattr(kept_descriptors, "UNPINNED_LIMIT", 3)
    paths = []
    for n in range(5):
        path = tmp_path / f"{n}.db"
        path.write_bytes(bytes([n]) * 10)
        paths.append(path)
        read_start(path, 1)
    kept = kept_descriptors._kept
    assert {os.fspath(p) for p in paths} & set(kept) == {os.fspath(p) for p in paths[2:]}
