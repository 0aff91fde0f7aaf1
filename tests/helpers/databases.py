"""Real SQLite databases for tests."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path


def make_db(path: Path, rows: int = 100, *, wal: bool = True, page_size: int = 4096,
            payload: int = 200, seed: int = 0) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={page_size}")
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.execute("create table if not exists items(id integer primary key, name text, "
                 "payload blob)")
    conn.execute("create index if not exists items_name on items(name)")
    conn.execute("begin")
    rng = hashlib.sha256(str(seed).encode()).digest()
    for i in range(rows):
        body = (rng * (payload // len(rng) + 1))[:payload // 2] + os.urandom(payload // 2)
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
