"""A row seen at one point carried to another: the pages compared (page 1 past its file
header, the rest by bytes or by page hashes), the state after a commit read from the
commit's own pages and the last lookup's before the whole state is built."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import xxhash

from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.core.history.row_points import CommitState, PageHashes, holds_same, observe
from tests.core.history.test_row_lookup import FilePages


def _db(path: Path, *statements: str) -> FilePages:
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in statements:
        conn.execute(sql)
    conn.close()
    return FilePages(path)


def _hashes(pages: FilePages, path: Path) -> PageHashes:
    data = b"".join(
        xxhash.xxh3_128_digest(image)
        for image in pages.pages(range(1, pages.page_count + 1)).values()
    )
    path.write_bytes(data)
    return PageHashes(path)


def test_a_point_holds_the_same_row_unless_a_page_it_read_differs(tmp_path: Path):
    create = "create table t(id integer primary key, v text)"
    fill = "insert into t(v) select hex(randomblob(200)) from (select 1 union all select 2)"
    first = _db(tmp_path / "a.db", create, fill, fill, fill)
    seen = observe(first, "t", KeySpec(rowid=2))
    assert seen.read.values is not None and 1 in seen.read.watched
    again = _db(tmp_path / "b.db", create, fill, fill, fill)  # other random bytes
    same = FilePages(tmp_path / "a.db")
    same.data = same.data[:24] + b"\x00\x00\x00\x63" + same.data[28:]  # header only
    for other, expected in ((same, True), (again, False)):
        reads: list[set[int]] = []

        def read(
            wanted: set[int], pages: FilePages = other, log: list[set[int]] = reads
        ) -> dict[int, bytes]:
            log.append(set(wanted))
            return pages.pages(wanted)

        hashes = _hashes(other, tmp_path / "hashes")
        assert holds_same(seen, other.page_count, {}, hashes, read) is expected
        # Page 1 is always read (its header differs anyway); the others only where
        # their hashes differ.
        assert reads[0] == ({1} if expected else set(seen.read.watched))
        assert holds_same(seen, other.page_count, {}, None, read) is expected
    assert not holds_same(seen, max(seen.read.watched) - 1, {}, None, first.pages)


def test_the_state_after_a_commit_builds_the_whole_state_only_when_needed():
    built: list[int] = []

    class Whole:
        page_count = 10

        def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
            return {n: b"whole" for n in wanted}

    def whole() -> Whole:
        built.append(1)
        return Whole()

    state = CommitState({2: lambda: b"own"}, {2: b"old", 3: b"known"}, 10, whole)
    assert state.pages([2, 3, 11]) == {2: b"own", 3: b"known"}
    assert not built
    assert state.pages([2, 4, 5]) == {2: b"own", 4: b"whole", 5: b"whole"}
    assert state.pages([6]) == {6: b"whole"} and built == [1]
