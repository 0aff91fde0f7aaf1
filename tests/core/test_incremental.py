"""Differential snapshots: round trips against a live database, bit for bit."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import BaseRef, SnapshotRequest
from lifeboat.core.verify import extract_verified
from lifeboat.foundation.errors import CorruptSnapshot
from tests.helpers.databases import db_content, make_db
from tests.helpers.workfiles import snapshot_request


def request(tmp_path: Path, db: Path, base=None, **kw) -> SnapshotRequest:
    return snapshot_request(tmp_path, db, folder=tmp_path / "snaps", base=base, **kw)


def as_base(tmp_path: Path, manifest) -> BaseRef:
    return BaseRef(manifest, tmp_path / "snaps" / f"{manifest.stem}.pages")


def rebuilt(tmp_path: Path, diff, base, name: str = "out.db") -> Path:
    out = tmp_path / name
    out.unlink(missing_ok=True)
    extract_verified(tmp_path / "snaps", diff, out, check="full", base=(tmp_path / "snaps", base))
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mutate(db: Path, seed: int) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    top = conn.execute("select max(id) from items").fetchone()[0]
    for i in rng.sample(range(1, top + 1), 40):
        conn.execute("update items set name=? where id=?", (f"edited-{seed}-{i}", i))
    conn.execute("delete from items where id in (select id from items order by random() limit 25)")
    conn.executemany(
        "insert into items(name, payload) values (?, randomblob(300))",
        [(f"new-{seed}-{n}",) for n in range(30)],
    )
    conn.commit()
    conn.close()


def test_round_trips_through_edits_schema_changes_growth_and_vacuum(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=2000, payload=400)
    base = take_snapshot(request(tmp_path, db))
    assert base.kind == "full" and base.pages_sha256
    steps = [
        ("edits", lambda: mutate(db, 1)),
        (
            "schema change",
            lambda: _sql(
                db,
                "alter table items add column note text; "
                "update items set note='x' where id % 7 = 0; "
                "create table tags(id integer primary key, t);"
                "insert into tags(t) values ('a'), ('b');",
            ),
        ),
        (
            "growth past the base",
            lambda: _sql(
                db,
                "insert into items(name, payload) "
                "select name || '+', payload from items "
                "where id % 5 = 0;",
            ),
        ),
        ("vacuum shrinks it", lambda: _sql(db, "delete from items where id % 2 = 0; vacuum;")),
    ]
    for what, change in steps:
        change()
        expected = db_content(db)
        # a large rebase_ratio: always a differential here, however much changed
        diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=10))
        assert diff.kind == "diff" and diff.base == base.id, (what, diff.extra)
        out = rebuilt(tmp_path, diff, base)
        assert db_content(out) == expected, what
        assert sha(out) == diff.db_sha256, what
        assert diff.page_count * diff.page_size == out.stat().st_size
    assert diff.page_count < base.page_count, "the vacuumed database shrank"


def test_a_small_change_costs_a_small_differential(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=8000, payload=600)
    base = take_snapshot(request(tmp_path, db))
    _sql(db, "update items set name = name || '!' where id % 100 = 0;")
    diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, base)))
    assert diff.kind == "diff"
    assert diff.size < base.size * 0.1, (diff.size, base.size)


def test_page_size_change_forces_a_new_base(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=500, wal=False)
    base = take_snapshot(request(tmp_path, db))
    _sql(db, "pragma page_size=8192; vacuum;")
    snap = take_snapshot(request(tmp_path, db, as_base(tmp_path, base)))
    assert snap.kind == "full" and snap.page_size == 8192
    assert snap.extra["rebased"] == "the page size changed"


def test_too_much_change_takes_a_new_base(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=2000, payload=400)
    base = take_snapshot(request(tmp_path, db))
    _sql(db, "update items set payload = randomblob(400);")
    snap = take_snapshot(request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=0.5))
    assert snap.kind == "full" and snap.extra["rebased"] == "too much changed since the base"


def test_a_flipped_byte_in_the_base_fails_the_differential(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=1000)
    base = take_snapshot(request(tmp_path, db))
    mutate(db, 3)
    diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=10))
    assert diff.kind == "diff"
    artifact = tmp_path / "snaps" / base.artifact
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 1
    artifact.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshot):
        rebuilt(tmp_path, diff, base)
    assert not (tmp_path / "out.db").exists()


def test_a_manifest_pointing_at_the_wrong_base_is_caught(tmp_path: Path):
    from dataclasses import replace

    db = make_db(tmp_path / "live.db", rows=500)
    first = take_snapshot(request(tmp_path, db))
    second = take_snapshot(request(tmp_path, db))  # another full of the same content
    mutate(db, 4)
    diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, first), rebase_ratio=10))
    assert diff.kind == "diff"
    edited = replace(diff, base=second.id)
    with pytest.raises(CorruptSnapshot, match="another base"):
        rebuilt(tmp_path, edited, second)


def test_a_missing_or_damaged_page_hash_list_is_refused(tmp_path: Path):
    from lifeboat.foundation.errors import OperationFailed

    db = make_db(tmp_path / "live.db", rows=500)
    base = take_snapshot(request(tmp_path, db))
    pages = tmp_path / "snaps" / f"{base.stem}.pages"
    pages.write_bytes(b"\0" * pages.stat().st_size)
    with pytest.raises(OperationFailed, match="page-hash list"):
        take_snapshot(request(tmp_path, db, as_base(tmp_path, base)))


def _sql(db: Path, script: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(script)
    conn.close()
