"""A point's check narrowed to the b-trees its commits touched (core/history/
point_check.py), with the base's page owners (owners_file.py) made at the base's check.

Each point here is a real commit: the database changed by SQLite in a copy of the base,
the pages that differ written into a segment with a valid state digest. Corruptions are
crafted the same way; only SQLite's check (narrowed or whole) may refuse them, and what
the narrowed check cannot prove (a page used twice across b-trees, a page no one uses, a
missing or damaged owners file, a changed schema) takes the whole check.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.owners_file import (
    base_owners,
    database_owners,
    owners_match,
    owners_path,
)
from lifeboat.core.history.point_check import narrowed_check
from lifeboat.core.history.points import rebuild_point
from lifeboat.core.leftovers import delete_snapshot_files
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.jobs.restore_point import point_check
from tests.core.history.helpers import SOURCE, Capture, make_capture
from tests.core.history.test_point_check import (
    _PAGE,
    _base_bytes,
    _choice,
    _corruptions,
    _database,
    _point_with,
)


def _app_database(tmp_path: Path) -> Path:
    """Tables the hour leaves alone (`other`, with overflow rows and an index; a WITHOUT
    ROWID table) and one it writes (`items`, rows with overflow chains, a small part
    of the file as in a typical hour), a freelist."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("create table other(id integer primary key, tag text, v blob)")
    conn.execute("create index other_tag on other(tag)")
    conn.execute("create table kv(k text primary key, v text) without rowid")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into other values (?, ?, randomblob(?))",
        [(k, f"t{k % 7}", 9000 if k % 5 == 0 else 300) for k in range(1, 1500)],
    )
    conn.executemany("insert into kv values (?, ?)", [(f"k{k}", "x" * 50) for k in range(300)])
    conn.executemany("insert into items values (?, randomblob(6000))", [(k,) for k in range(1, 60)])
    conn.execute("delete from other where id between 100 and 140")  # a freelist
    conn.close()
    return db


def _continuous_base(capture: Capture) -> BaseRef:
    return capture.take_base()


def _changed_by(capture: Capture, base: BaseRef, sql: list[str]) -> tuple[dict[int, bytes], int]:
    """The pages SQLite rewrites running `sql` on a copy of the base's database, and its
    page count after: a real commit."""
    original = _base_bytes(capture, base)
    copy = capture.root / "changed.db"
    copy.unlink(missing_ok=True)
    copy.write_bytes(original)
    conn = sqlite3.connect(copy, isolation_level=None)
    for statement in sql:
        conn.execute(statement)
    conn.close()
    after = copy.read_bytes()
    count = len(after) // _PAGE
    pages = {
        n: after[(n - 1) * _PAGE : n * _PAGE]
        for n in range(1, count + 1)
        if after[(n - 1) * _PAGE : n * _PAGE] != original[(n - 1) * _PAGE : n * _PAGE]
    }
    return pages, count


def _narrowed(capture: Capture, base: BaseRef, pages: dict[int, bytes], count: int):  # type: ignore[no-untyped-def]
    """(what the narrowed check says of the point, the restore's outcome: None or the
    CorruptSnapshot raised)."""
    point = _point_with(capture, base, pages, count)
    seen: dict[str, object] = {}
    real = point_check(_choice(), "quick", base)
    assert real is not None

    def check(path: Path, written) -> None:  # type: ignore[no-untyped-def]
        seen["narrowed"] = narrowed_check(path, written, base_owners(base), "quick")
        real(path, written)

    dest = capture.root / "restored.db"
    dest.unlink(missing_ok=True)
    try:
        rebuild_point(point, dest, capture.run, capture.scratch, check)
    except CorruptSnapshot as exc:
        assert not dest.exists()
        return seen["narrowed"], exc
    return seen["narrowed"], None


_TYPICAL = [
    "insert into items values (1000, randomblob(6000))",
    "update items set v = randomblob(100) where id = 7",
    "delete from items where id = 9",
]


def test_the_base_owners_are_made_at_its_check_and_equal_sqlites_dbstat(tmp_path: Path):
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    owners = base_owners(base)
    assert owners is not None and owners.check_mode == "quick"
    copy = tmp_path / "base.db"
    copy.write_bytes(_base_bytes(capture, base))
    conn = sqlite3.connect(copy)
    roots = dict(conn.execute("select name, rootpage from sqlite_schema").fetchall())
    roots["sqlite_schema"] = 1
    for name, page in conn.execute("select name, pageno from dbstat"):
        assert owners.owner[page] == roots[name], (name, page)
    free = int.from_bytes(copy.read_bytes()[36:40], "big")
    assert free > 0 and list(owners.owner[1:]).count(0) == free  # FREE: the freelist's
    (tmp_path / "m").mkdir()
    manual = make_capture(tmp_path / "m", capture.db)
    request = SnapshotRequest(SOURCE, capture.db, manual.folder, manual.run, manual.scratch)
    assert base_owners(BaseRef(take_snapshot(request), manual.folder)) is None  # not a base


def test_a_typical_point_takes_the_narrowed_check_and_passes(tmp_path: Path):
    """The speed-up cannot silently disappear: a point writing one table is checked by
    SQLite on that table alone, with the page accounting proven."""
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    pages, count = _changed_by(capture, base, _TYPICAL)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert refused is None
    assert narrowed is not None and narrowed.ok
    restored = sqlite3.connect(tmp_path / "restored.db")
    assert restored.execute("select count(*) from items").fetchone()[0] == 59


@pytest.mark.parametrize(
    "corruption",
    ["a leaf of garbage", "a freelist loop", "truncated below its rows", "a wrong freelist count"],
)
def test_the_crafted_corruptions_are_still_refused_with_owners(tmp_path: Path, corruption: str):
    capture = make_capture(tmp_path, _database(tmp_path))
    base = _continuous_base(capture)
    assert base_owners(base) is not None
    pages, count = _corruptions(_base_bytes(capture, base))[corruption]
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert isinstance(refused, CorruptSnapshot)
    assert "fails its integrity check" in str(refused)
    assert narrowed is None or not narrowed.ok


def _leaf_of(path: Path, table: str, rowid: int) -> tuple[int, int]:
    """(the table leaf holding `rowid`, the offset of its cell there)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "select pageno from dbstat where name = ? and pagetype = 'leaf'", (table,)
        ).fetchall()
    finally:
        conn.close()
    data = path.read_bytes()
    for (page,) in rows:
        start = (page - 1) * _PAGE
        for i in range(struct.unpack_from(">H", data, start + 3)[0]):
            at = struct.unpack_from(">H", data, start + 8 + 2 * i)[0]
            _, used = _varint(data, start + at)
            key, _ = _varint(data, used)
            if key == rowid:
                return page, at
    raise AssertionError(f"no leaf holds row {rowid}")


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        value = (value << 7) | (data[at + i] & 0x7F)
        if data[at + i] < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def _overflow_pointer(page: bytes, at: int) -> tuple[int, int]:
    """(offset of the overflow pointer of the table leaf cell at `at`, the page it
    names); the cell's payload must overflow."""
    payload, after = _varint(page, at)
    _, after = _varint(page, after)
    usable, low = _PAGE, (_PAGE - 12) * 32 // 255 - 23
    local = low + (payload - low) % (usable - 4)
    if local > usable - 35:
        local = low
    return after + local, struct.unpack_from(">I", page, after + local)[0]


def test_a_touched_trees_page_corrupted_is_found_by_the_narrowed_check(tmp_path: Path):
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    pages, count = _changed_by(capture, base, _TYPICAL)
    copy = tmp_path / "base.db"
    copy.write_bytes(_base_bytes(capture, base))
    leaf, _ = _leaf_of(copy, "items", 20)
    garbage = bytearray(copy.read_bytes()[(leaf - 1) * _PAGE : leaf * _PAGE])
    garbage[0] = 0  # no b-tree page type
    pages[leaf] = bytes(garbage)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is not None and not narrowed.ok  # SQLite's per-table check found it
    assert isinstance(refused, CorruptSnapshot)


def test_a_page_used_by_a_touched_and_an_untouched_tree_takes_the_whole_check(tmp_path: Path):
    """A row of `items` (written in the hour) made to continue in the overflow chain of a
    row of `other` (left alone) of the same length: `quick_check(items)` alone sees a
    valid chain; the accounting does not add up, the whole check finds the page used
    twice."""
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    pages, count = _changed_by(
        capture, base, ["update items set v = randomblob(9000) where id = 3"]
    )
    point_bytes = bytearray(_base_bytes(capture, base))
    for number, data in pages.items():
        point_bytes[(number - 1) * _PAGE : number * _PAGE] = data
    copy = tmp_path / "point.db"
    copy.write_bytes(bytes(point_bytes[: count * _PAGE]))
    mine, cell = _leaf_of(copy, "items", 3)
    theirs, their_cell = _leaf_of(copy, "other", 5)  # 9000 bytes too: a chain as long
    page = bytearray(point_bytes[(mine - 1) * _PAGE : mine * _PAGE])
    at, _ = _overflow_pointer(bytes(page), cell)
    their_page = bytes(point_bytes[(theirs - 1) * _PAGE : theirs * _PAGE])
    _, their_chain = _overflow_pointer(their_page, their_cell)
    page[at : at + 4] = their_chain.to_bytes(4, "big")
    pages[mine] = bytes(page)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None
    assert isinstance(refused, CorruptSnapshot) and "fails its integrity check" in str(refused)


def test_a_leaked_page_takes_the_whole_check_which_refuses_it(tmp_path: Path):
    """The last leaf of the freelist's trunk dropped, and the header's count with it: a
    page nothing uses, which no per-table check can see."""
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    original = _base_bytes(capture, base)
    pages, count = _changed_by(capture, base, _TYPICAL)
    page1 = bytearray(pages.get(1, original[:_PAGE]))
    trunk = int.from_bytes(page1[32:36], "big")
    trunk_page = bytearray(pages.get(trunk, original[(trunk - 1) * _PAGE : trunk * _PAGE]))
    leaves = int.from_bytes(trunk_page[4:8], "big")
    assert leaves > 0
    trunk_page[4:8] = (leaves - 1).to_bytes(4, "big")
    page1[36:40] = (int.from_bytes(page1[36:40], "big") - 1).to_bytes(4, "big")
    pages[1], pages[trunk] = bytes(page1), bytes(trunk_page)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None
    assert isinstance(refused, CorruptSnapshot) and "never used" in str(refused)


@pytest.mark.parametrize("damage", ["missing", "a byte changed", "another base's"])
def test_a_missing_or_damaged_owners_file_takes_the_whole_check(tmp_path: Path, damage: str):
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    path = owners_path(base.folder, base.manifest.stem)
    if damage == "missing":
        path.unlink()
    elif damage == "a byte changed":
        data = bytearray(path.read_bytes())
        data[60] ^= 1
        path.write_bytes(bytes(data))
    else:
        (tmp_path / "o").mkdir()
        other = make_capture(tmp_path / "o", _database(tmp_path / "o"))
        theirs = _continuous_base(other)
        path.unlink()
        shutil.copyfile(owners_path(theirs.folder, theirs.manifest.stem), path)
    assert base_owners(base) is None
    pages, count = _changed_by(capture, base, _TYPICAL)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None and refused is None  # the whole check ran, and passed
    garbage = bytes((i * 7 + 3) % 251 for i in range(_PAGE))
    pages[max(pages)] = garbage
    _, refused = _narrowed(capture, base, pages, count)
    assert isinstance(refused, CorruptSnapshot)


def test_a_schema_change_in_the_hour_takes_the_whole_check(tmp_path: Path):
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    pages, count = _changed_by(
        capture, base, ["create table later(x)", "insert into later values (1)", *_TYPICAL]
    )
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None and refused is None
    dropped, count = _changed_by(capture, base, ["drop table kv"])
    narrowed, refused = _narrowed(capture, base, dropped, count)
    assert narrowed is None and refused is None


def test_no_owners_for_an_auto_vacuum_database(tmp_path: Path):
    db = tmp_path / "av.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma auto_vacuum=full")
    conn.execute("create table t(v)")
    conn.executemany("insert into t values (randomblob(5000))", [()] * 20)
    conn.close()
    assert database_owners(db) is None


def test_verify_knows_the_owners_file_and_deletion_takes_it(tmp_path: Path):
    """owners_match (what `lifeboat verify` reports) holds for the file made at the
    base's check and not for a damaged one; deleting the snapshot removes it too."""
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    database = tmp_path / "verified.db"
    database.write_bytes(_base_bytes(capture, base))
    assert owners_match(base, database) is True
    path = owners_path(base.folder, base.manifest.stem)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert owners_match(base, database) is False
    delete_snapshot_files(base.folder, base.manifest)
    assert not path.exists() and not base.artifact.exists()


def test_a_point_captured_from_a_live_writer_takes_the_narrowed_check(tmp_path: Path):
    """As the follower captures it: page 1 from the app's WAL (its own change counter and
    schema cookie, which the base's copy reset), rows written into one table of several
    (one with overflow rows), some deleted; the point at the end is checked narrowed and
    its rows are the app's."""
    db = _app_database(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    capture = make_capture(tmp_path, db)
    follower = capture.follower()
    follower.start()
    for k in range(120):
        conn.execute("insert into items(v) values (randomblob(?))", (200 + k * 97 % 6000,))
        if k % 9 == 0:
            conn.execute("delete from items where id % 11 = ?", (k % 11,))
            follower.poll()
    follower.poll()
    last, chain = follower.status.last_capture_us, follower.status.chain
    assert last is not None and chain is not None
    point = capture.point(chain, last)
    assert point is not None
    expected = conn.execute("select id, v from items order by id").fetchall()
    seen: dict[str, object] = {}
    real = point_check(_choice(), "quick", point.base)
    assert real is not None

    def check(path: Path, written) -> None:  # type: ignore[no-untyped-def]
        seen["narrowed"] = narrowed_check(path, written, base_owners(point.base), "quick")
        real(path, written)

    dest = tmp_path / "restored.db"
    rebuild_point(point, dest, capture.run, capture.scratch, check)
    narrowed = seen["narrowed"]
    assert narrowed is not None and narrowed.ok  # type: ignore[attr-defined]
    restored = sqlite3.connect(dest)
    assert restored.execute("select id, v from items order by id").fetchall() == expected
    restored.close()
    follower.close()
    conn.close()


def test_a_page_on_the_freelist_and_in_an_untouched_tree_takes_the_whole_check(tmp_path: Path):
    """A leaf of `other` (left alone) also listed on the freelist, the header's count
    one more: no per-table check sees it; the whole check does."""
    capture = make_capture(tmp_path, _app_database(tmp_path))
    base = _continuous_base(capture)
    original = _base_bytes(capture, base)
    pages, count = _changed_by(capture, base, _TYPICAL)
    copy = tmp_path / "base.db"
    copy.write_bytes(original)
    theirs, _ = _leaf_of(copy, "other", 2)
    page1 = bytearray(pages.get(1, original[:_PAGE]))
    trunk = int.from_bytes(page1[32:36], "big")
    trunk_page = bytearray(pages.get(trunk, original[(trunk - 1) * _PAGE : trunk * _PAGE]))
    leaves = int.from_bytes(trunk_page[4:8], "big")
    trunk_page[8 + 4 * leaves : 12 + 4 * leaves] = theirs.to_bytes(4, "big")
    trunk_page[4:8] = (leaves + 1).to_bytes(4, "big")
    page1[36:40] = (int.from_bytes(page1[36:40], "big") + 1).to_bytes(4, "big")
    pages[1], pages[trunk] = bytes(page1), bytes(trunk_page)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None
    assert isinstance(refused, CorruptSnapshot) and "fails its integrity check" in str(refused)


def test_a_point_that_touched_most_of_the_file_takes_the_whole_check(tmp_path: Path):
    """One table is the whole database: checking and walking it would cost more than
    the whole check, which runs instead (and passes)."""
    db = tmp_path / "one.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany("insert into items values (?, randomblob(2000))", [(k,) for k in range(300)])
    conn.close()
    capture = make_capture(tmp_path, db)
    base = _continuous_base(capture)
    assert base_owners(base) is not None
    pages, count = _changed_by(capture, base, _TYPICAL)
    narrowed, refused = _narrowed(capture, base, pages, count)
    assert narrowed is None and refused is None
