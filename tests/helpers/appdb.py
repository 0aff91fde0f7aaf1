"""A database an application made with its own collation and function (SQLite stores
only their names: without the application's code it cannot use them)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def app_connection(path: Path, **kwargs: object) -> sqlite3.Connection:
    """A connection as the application opens it: MYCOLL (case-insensitive order) and
    myfn (upper case) defined."""
    conn = sqlite3.connect(path, **kwargs)  # type: ignore[arg-type]
    conn.create_collation("MYCOLL", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower()))
    conn.create_function(
        "myfn", 1, lambda x: None if x is None else str(x).upper(), deterministic=True
    )
    return conn


def make_app_db(path: Path, rows: int = 300, *, before: str = "") -> Path:
    """Tables using MYCOLL in an index and a column, myfn in an expression index, a CHECK
    and a generated column, and a plain table. `before`: SQL run first (tables created
    before the others are checked after them by SQLite)."""
    conn = app_connection(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    if before:
        conn.executescript(before)
    conn.executescript("""
        create table t(id integer primary key, a text, b text,
                       c text generated always as (myfn(b)) virtual,
                       d text generated always as (a || '!') virtual,
                       check (myfn(a) is not null));
        create index t_a on t(a collate MYCOLL);
        create index t_b on t(myfn(b));
        create table notes(id integer primary key, title text collate MYCOLL, body text);
        create index notes_title on notes(title);
        create table plain(id integer primary key, x text);
        create index plain_x on plain(x);
    """)
    conn.execute("begin")
    for i in range(rows):
        # Mixed case: MYCOLL's order differs from binary order, as in real data.
        conn.execute("insert into t(a, b) values (?, ?)", (f"{'aB'[i % 2]}{i}", f"b{i}"))
        conn.execute(
            "insert into notes(title, body) values (?, ?)", (f"{'tT'[i % 2]}itle {i}", "x" * 50)
        )
        conn.execute("insert into plain(x) values (?)", (f"x{i}" * 8,))
    conn.execute("commit")
    conn.close()
    return path


def leaf_pages(path: Path, name: str) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            r[0]
            for r in conn.execute(
                "select pageno from dbstat where name = ? and pagetype = 'leaf' order by pageno",
                (name,),
            )
        ]
    finally:
        conn.close()


def corrupt_page(path: Path, page: int, page_size: int = 4096) -> None:
    """Scribble over a b-tree page's cell pointers, as a failing disk would."""
    with open(path, "r+b") as fh:
        fh.seek(page_size * (page - 1) + 8)
        fh.write(b"\xff" * 64)
