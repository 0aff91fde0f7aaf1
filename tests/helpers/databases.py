"""Real SQLite databases for tests."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path


def make_db(
    path: Path,
    rows: int = 100,
    *,
    wal: bool = True,
    page_size: int = 4096,
    payload: int = 200,
    seed: int = 0,
) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={page_size}")
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.execute(
        "create table if not exists items(id integer primary key, name text, payload blob)"
    )
    conn.execute("create index if not exists items_name on items(name)")
    conn.execute("begin")
    rng = hashlib.sha256(str(seed).encode()).digest()
    for i in range(rows):
        body = (rng * (payload // len(rng) + 1))[: payload // 2] + os.urandom(payload // 2)
        conn.execute("insert into items(name, payload) values (?, ?)", (f"item-{seed}-{i}", body))
    conn.execute("commit")
    conn.close()
    return path


def table_rows(path: Path, table: str = "items") -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"select * from {table} order by rowid").fetchall()
    finally:
        conn.close()


def max_id(path: Path, table: str = "items") -> int:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return int(conn.execute(f"select coalesce(max(id), 0) from {table}").fetchone()[0])
    finally:
        conn.close()


def db_content(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows (in rowid order) and the schema, to compare two databases.

    Opened as an application would (read-write), so a hot journal is rolled back.
    """
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute("select name from sqlite_master where type='table' order by name")
        ]
        content: dict[str, list[tuple[object, ...]]] = {
            "__schema__": conn.execute(
                "select type, name, sql from sqlite_master order by name"
            ).fetchall()
        }
        for table in tables:
            content[table] = conn.execute(f'select * from "{table}" order by rowid').fetchall()
        return content
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        return str(conn.execute("pragma integrity_check").fetchone()[0])
    finally:
        conn.close()


def content_digest(path: Path) -> str:
    """One hash of what db_content returns: the schema and every table's rows in rowid
    order. Each value is fed with its type and length (no repr of whole blobs: ten times
    faster on a 20 MB database)."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        schema = conn.execute("select type, name, sql from sqlite_master order by name")
        digest.update(repr(schema.fetchall()).encode())
        tables = [
            r[0]
            for r in conn.execute("select name from sqlite_master where type='table' order by name")
        ]
        for table in tables:
            digest.update(b"\0table:" + table.encode() + b"\0")
            for row in conn.execute(f'select * from "{table}" order by rowid'):
                digest.update(b"\0row:%d" % len(row))
                for value in row:
                    _feed(digest, value)
        return digest.hexdigest()
    finally:
        conn.close()


def _feed(digest: hashlib._Hash, value: object) -> None:
    if isinstance(value, bytes):
        digest.update(b"b%d:" % len(value))
        digest.update(value)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        digest.update(b"s%d:" % len(data))
        digest.update(data)
    else:  # None, int, float
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def change_db(path: Path, table: str = "items") -> Path:
    """Add one row to `path` (made by make_db): a backup of it stores a new snapshot
    (an unchanged database is not stored again)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"insert into {table}(name) values (?)", (f"changed-{os.urandom(4).hex()}",))
    conn.close()
    return path
