"""Our walk of b-trees from the file's bytes (core/history/tree_pages.py) lists exactly
what SQLite's dbstat lists, for every kind of b-tree and page layout; anything it does
not expect raises WalkFailed, on files SQLite's own per-table check refuses too."""

from __future__ import annotations

import os
import random
import sqlite3
import struct
from pathlib import Path

import pytest

from lifeboat.core.history.page_owners import WalkFailed
from lifeboat.core.history.tree_pages import TreeFile, tree_pages


def _database(path: Path, page_size: int, reserved: int = 0) -> Path:
    """Tables, indexes and a WITHOUT ROWID table, rows from tiny to many pages long:
    overflow chains in table leaves, index leaves and index interior cells."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={page_size}")
    conn.execute("pragma user_version=1")  # page 1 written, no b-tree but the schema's
    conn.close()
    if reserved:  # reserved bytes at each page's end (set before any cell is written)
        head = bytearray(path.read_bytes())
        head[20] = reserved
        head[105:107] = (page_size - reserved).to_bytes(2, "big")
        path.write_bytes(bytes(head))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("create table t(id integer primary key, v blob)")
    conn.execute("create index t_v on t(v)")
    conn.execute("create table kv(k text primary key, v blob) without rowid")
    conn.execute("create table big(k blob, v)")
    conn.execute("create index big_k on big(k)")
    sizes = random.Random(page_size + reserved)
    conn.execute("begin")
    for i in range(600):
        conn.execute("insert into t values (?, randomblob(?))", (i, sizes.choice([9, 300, 9000])))
        key = f"key{i:04}" * sizes.choice([1, 90, 1500])
        conn.execute("insert into kv values (?, randomblob(?))", (key, sizes.choice([9, 5000])))
        conn.execute("insert into big values (randomblob(?), ?)", (sizes.choice([5, 700, 6000]), i))
    conn.execute("commit")
    conn.execute("delete from t where id % 3 = 0")
    conn.close()
    return path


def _walk(path: Path, name: str, root: int | None = None) -> list[int]:
    """Our walk of b-tree `name` (rooted at `root`, if given: the schema unread)."""
    size = 4096
    if root is None:
        conn = sqlite3.connect(path)
        try:
            (found,) = conn.execute("select rootpage from sqlite_schema where name = ?", (name,))
            root, size = found[0], conn.execute("pragma page_size").fetchone()[0]
        finally:
            conn.close()
    reserved = path.read_bytes()[20]
    fd = os.open(path, os.O_RDONLY)
    try:
        file = TreeFile(fd, size, size - reserved, os.fstat(fd).st_size // size)
        return sorted(tree_pages(file, [root]).tolist())
    finally:
        os.close(fd)


def _dbstat(path: Path, name: str, kind: str | None = None) -> list[tuple[int, str, str]]:
    """(page, page type, path) of b-tree `name`'s pages, as dbstat lists them."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("select pageno, pagetype, path from dbstat where name = ?", (name,))
        return [row for row in rows if kind is None or row[1] == kind]
    finally:
        conn.close()


@pytest.mark.parametrize(("page_size", "reserved"), [(4096, 0), (512, 0), (1024, 8), (65536, 0)])
def test_the_walk_lists_what_sqlites_dbstat_lists(tmp_path: Path, page_size: int, reserved: int):
    db = _database(tmp_path / "t.db", page_size, reserved)
    conn = sqlite3.connect(db)
    assert conn.execute("pragma quick_check").fetchone() == ("ok",)
    conn.close()
    for name in ("t", "t_v", "kv", "big", "big_k", "sqlite_autoindex_kv_1"):
        stat = _dbstat(db, name)
        if not stat:
            continue  # (kv's key is its own b-tree: no autoindex)
        assert _walk(db, name) == sorted(page for page, _, _ in stat), name


def test_index_interior_cells_with_overflow_are_walked(tmp_path: Path):
    """The case a table walk never meets: a key too long for an index's interior page
    keeps its tail in an overflow chain (dbstat's path of an overflow page: its cell's
    page's path, the cell's number, `+`, the page's place in the chain)."""
    db = _database(tmp_path / "t.db", 4096)
    for name in ("kv", "big_k"):
        stat = _dbstat(db, name)
        kinds = {path: kind for _, kind, path in stat}
        interior = [
            path
            for _, kind, path in stat
            if kind == "overflow" and kinds[path[: path.rindex("/") + 1]] == "internal"
        ]
        assert interior, name
        assert _walk(db, name) == sorted(page for page, _, _ in stat)


def _page(db: Path, number: int, size: int = 4096) -> bytearray:
    with open(db, "rb") as file:
        file.seek((number - 1) * size)
        return bytearray(file.read(size))


def _put(db: Path, number: int, data: bytes, size: int = 4096) -> None:
    with open(db, "r+b") as file:
        file.seek((number - 1) * size)
        file.write(data)


def _first_chain(db: Path, name: str) -> list[int]:
    """The pages of the first overflow chain of `name` at least 2 pages long."""
    chains: dict[str, list[tuple[str, int]]] = {}
    for page, _, path in _dbstat(db, name, "overflow"):
        cell, _, step = path.partition("+")
        chains.setdefault(cell, []).append((step, page))
    for steps in chains.values():
        if len(steps) >= 2:
            return [page for _, page in sorted(steps)]
    raise AssertionError("no chain of 2 pages")


def _quick_check(db: Path, table: str) -> str:
    """SQLite's quick_check of `table`: its first line, or SQLite's error (SQLITE_CORRUPT
    when reading the table's rows: its finding too)."""
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute(f"pragma quick_check({table})").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        assert "malformed" in str(exc)
        return str(exc)
    finally:
        conn.close()


def _root_child(db: Path, name: str) -> tuple[int, int]:
    """(the root of `name`, an interior page), the offset of the root's first child."""
    (root,) = [p for p, kind, path in _dbstat(db, name) if path == "/"]
    page = _page(db, root)
    assert page[0] in (2, 5)
    (at,) = struct.unpack_from(">H", page, 12)
    return root, at


def _cut_short(db: Path) -> None:
    chain = _first_chain(db, "t")
    first = _page(db, chain[0])
    first[0:4] = bytes(4)  # the chain ends a page early
    _put(db, chain[0], bytes(first))


def _run_on(db: Path) -> None:
    chain = _first_chain(db, "t")
    last = _page(db, chain[-1])
    last[0:4] = chain[0].to_bytes(4, "big")  # the last page names the first again
    _put(db, chain[-1], bytes(last))


def _beyond_the_file(db: Path) -> None:
    root, at = _root_child(db, "t")
    page = _page(db, root)
    page[at : at + 4] = (os.path.getsize(db) // 4096 + 7).to_bytes(4, "big")
    _put(db, root, bytes(page))


def _cycle(db: Path) -> None:
    root, at = _root_child(db, "t")
    page = _page(db, root)
    page[at : at + 4] = root.to_bytes(4, "big")  # the root is its own child
    _put(db, root, bytes(page))


def _not_a_btree_page(db: Path) -> None:
    (leaf, _, _) = _dbstat(db, "t", "leaf")[3]
    page = _page(db, leaf)
    page[0] = 7
    _put(db, leaf, bytes(page))


@pytest.mark.parametrize(
    "damage", [_cut_short, _run_on, _beyond_the_file, _cycle, _not_a_btree_page]
)
def test_what_the_walk_does_not_expect_fails_it_and_sqlite_finds_it_too(tmp_path: Path, damage):  # type: ignore[no-untyped-def]
    db = _database(tmp_path / "t.db", 4096)
    ((root, _, _),) = [row for row in _dbstat(db, "t") if row[2] == "/"]
    damage(db)
    with pytest.raises(WalkFailed):
        _walk(db, "t", root)
    assert _quick_check(db, "t") != "ok"  # SQLite's own check of that table sees it
