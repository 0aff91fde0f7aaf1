"""Single pages of a base at any page, in any order: a seekable full base (frames read
where the pages are), an old one-frame base (read forward, passes restarted when asked
for an earlier page) and a differential (rebuilt in scratch)."""

from __future__ import annotations

import dataclasses
import random
import shutil
import sqlite3

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.page_reader import BasePages
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import BaseRef as DiffBase
from lifeboat.core.snapshot_request import SnapshotRequest
from tests.core.history.helpers import make_capture
from tests.helpers.old_artifacts import make_single_frame, plain_bytes


def _pages(path, size):  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    return {n + 1: data[n * size : (n + 1) * size] for n in range(len(data) // size)}


def _old_base_pages_read_forward(capture, full, expected):  # type: ignore[no-untyped-def]
    """The same base as an old one-frame artifact: read in forward passes."""
    folder = capture.folder / "old"
    folder.mkdir()
    shutil.copy(capture.folder / full.artifact, folder / full.artifact)
    old = make_single_frame(folder, full)
    pages = BasePages(BaseRef(old, folder), capture.run, capture.scratch)
    rng = random.Random(5)
    try:
        for _ in range(5):
            wanted = rng.sample(sorted(expected), 40)
            assert pages.get(wanted) == {n: expected[n] for n in wanted}
        assert pages.passes >= 2  # earlier pages asked for later: read again from the start
    finally:
        pages.close()


def test_base_pages_in_any_order_equal_the_database_file(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table t(id integer primary key, v blob)")
    conn.executemany("insert into t(v) values (randomblob(?))", [(n % 3000,) for n in range(2400)])
    conn.close()
    capture = make_capture(tmp_path, db)
    request = SnapshotRequest("notes", db, capture.folder, capture.run, capture.scratch)
    full = take_snapshot(request)
    plain = tmp_path / "plain.db"
    plain.write_bytes(plain_bytes(capture.folder / full.artifact))
    expected = _pages(plain, full.page_size)
    assert len(plain.read_bytes()) > 1 << 20  # more than one frame
    pages = BasePages(BaseRef(full, capture.folder), capture.run, capture.scratch)
    rng = random.Random(5)
    try:
        for _ in range(5):
            wanted = rng.sample(sorted(expected), 40)
            assert pages.get(wanted) == {n: expected[n] for n in wanted}
        assert pages.passes == 0  # seekable: no forward pass at all
        assert pages.get([len(expected) + 5]) == {}  # past the end: nothing
    finally:
        pages.close()
    _old_base_pages_read_forward(capture, full, expected)
    # A differential base.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("update t set v = randomblob(10) where id % 9 = 0")
    conn.close()
    assert full.pages_sha256
    parent_pages = capture.folder / f"{full.stem}.pages"
    diff = take_snapshot(
        dataclasses.replace(request, base=DiffBase(full, parent_pages), rebase_ratio=1.0)
    )
    assert diff.kind == "diff"
    # Its pages are the database's (page 1's header aside: a snapshot's says DELETE).
    expected = _pages(db, diff.page_size)
    parent = BaseRef(full, capture.folder)
    pages = BasePages(BaseRef(diff, capture.folder, parent), capture.run, capture.scratch)
    try:
        wanted = rng.sample(sorted(expected)[1:], 60)
        assert pages.get(wanted) == {n: expected[n] for n in wanted}
        # Seekable, with its index: read from its records and its base's frames, nothing
        # rebuilt in the scratch folder.
        assert pages.passes == 0 and not list(capture.scratch.iterdir())
    finally:
        pages.close()
    assert not list(capture.scratch.iterdir())
    # The same differential as an old one-frame artifact: rebuilt once in the scratch
    # folder, removed on close.
    folder = capture.folder / "old-diff"
    folder.mkdir()
    shutil.copy(capture.folder / diff.artifact, folder / diff.artifact)
    old = make_single_frame(folder, diff)
    pages = BasePages(BaseRef(old, folder, parent), capture.run, capture.scratch)
    try:
        assert len(list(capture.scratch.iterdir())) == 1
        assert pages.get(wanted) == {n: expected[n] for n in wanted}
    finally:
        pages.close()
    assert not list(capture.scratch.iterdir())
