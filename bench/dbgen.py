"""Build realistic SQLite databases for the benchmarks.

Shape: a `notes` table of text rows (~1.7 KB of words), an `attachments` table of 4 KiB
blobs (part random, part structured), two secondary indexes; WAL mode. zstd -3 gets it
to roughly a third of its size, like real application data.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
from pathlib import Path

WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure "
    "reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est "
    "meeting invoice customer project budget report draft review schedule travel notes "
    "kitchen garden recipe account password backup server deploy release version"
).split()

SCHEMA = """
create table if not exists notes(
    id integer primary key, title text not null, body text not null,
    tag text not null, updated_at integer not null);
create table if not exists attachments(
    id integer primary key, note_id integer not null, name text not null, data blob not null);
create index if not exists notes_tag on notes(tag, updated_at);
create index if not exists attachments_note on attachments(note_id);
"""


def bench_database(work_name: str, size_mb: int, db_name: str) -> tuple[Path, Path]:
    """A fresh work folder bench/out/<work_name> holding a copy of the cached database of
    `size_mb` (built once); returns (folder, database)."""
    from bench.common import OUT

    OUT.mkdir(exist_ok=True)
    work = OUT / work_name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    cached = OUT / f"bench-{size_mb}mb.db"
    if not cached.exists():
        print(f"building a {size_mb} MB database (once) ...", flush=True)
        build_database(cached, size_mb << 20)
    db = work / db_name
    shutil.copyfile(cached, db)
    return work, db


def make_text(rng: random.Random, length: int) -> str:
    words = rng.choices(WORDS, k=length // 6 + 1)
    words += [str(rng.randrange(10**9)) for _ in range(length // 60)]
    rng.shuffle(words)
    return " ".join(words)[:length]


def make_blob(rng: random.Random) -> bytes:
    noise = rng.randbytes(1200)
    header = (b"PK\x03\x04" + rng.randbytes(12)) * 8
    body = bytes(range(256)) * 10
    return (header + noise + body)[:4096].ljust(4096, b"\0")


def build_database(path: Path, size: int, *, seed: int = 1, wal: bool = True) -> Path:
    """Create (or grow) `path` until its file is at least `size` bytes."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma journal_mode={'wal' if wal else 'delete'}")
    conn.execute("pragma synchronous=off")
    conn.executescript(SCHEMA)
    next_id = (conn.execute("select max(id) from notes").fetchone()[0] or 0) + 1
    while os.path.getsize(path) + _wal_size(path) < size:
        conn.execute("begin")
        for i in range(next_id, next_id + 2000):
            conn.execute(
                "insert into notes values(?,?,?,?,?)",
                (
                    i,
                    make_text(rng, 40),
                    make_text(rng, rng.randrange(1200, 2200)),
                    rng.choice(WORDS),
                    rng.randrange(1_600_000_000, 1_800_000_000),
                ),
            )
            if i % 3 == 0:
                conn.execute(
                    "insert into attachments(note_id, name, data) values(?,?,?)",
                    (i, f"file-{i}.bin", make_blob(rng)),
                )
        conn.execute("commit")
        next_id += 2000
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return path


def update_rows(path: Path, fraction: float, *, seed: int = 2) -> int:
    """Rewrite the body of `fraction` of the notes with new text of about the same length."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    top = conn.execute("select max(id) from notes").fetchone()[0]
    ids = rng.sample(range(1, top + 1), max(1, int(top * fraction)))
    conn.execute("begin")
    for i in ids:
        (length,) = conn.execute("select length(body) from notes where id=?", (i,)).fetchone()
        conn.execute(
            "update notes set body=?, updated_at=updated_at+1 where id=?",
            (make_text(rng, length), i),
        )
    conn.execute("commit")
    conn.close()
    return len(ids)


def _wal_size(path: Path) -> int:
    try:
        return os.path.getsize(f"{path}-wal")
    except OSError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rollback", action="store_true", help="journal mode DELETE")
    args = parser.parse_args()
    build_database(args.path, args.size_mb << 20, wal=not args.rollback)


if __name__ == "__main__":
    main()
