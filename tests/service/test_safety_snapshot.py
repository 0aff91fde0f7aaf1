"""The safety snapshot of a restore or merge, made cheap (docs/SAFETY.md, "The safety
snapshot"): proven by its page hashes instead of a SHA-256 of every byte, and read
straight from a WAL database's file after a PASSIVE checkpoint. It still restores the
database exactly as it was, and a damaged database is still kept as it is and reported
for what it is."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core import wal_reset
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db, table_rows


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _app_connection(db: Path) -> sqlite3.Connection:
    """An app that keeps its database open and never checkpoints: its commits stay in
    the WAL, not yet copied back into the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma wal_autocheckpoint=0")
    return conn


def _wal_frames(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return max(0, (wal.stat().st_size - 32) // (4096 + 24)) if wal.exists() else 0


@pytest.mark.parametrize("wal_reset_bug", [False, True], ids=["fixed-sqlite", "affected-sqlite"])
def test_the_safety_snapshot_of_a_wal_database_is_read_from_its_file_and_exact(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wal_reset_bug: bool
):
    # Where Lifeboat's SQLite has the WAL-reset bug it checkpoints the live database only
    # under its own write lock (core/wal_reset.py): the safety snapshot stays exact.
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", wal_reset_bug)
    db = make_db(tmp_path / "notes.db", rows=3000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False)
    app = _app_connection(db)
    app.execute("delete from items where id % 50 = 0")
    assert _wal_frames(db) > 0
    # A backup never checkpoints the app's database: its frames are copied page by page.
    backup = service.backup("notes", upload=False)
    assert backup.manifest.extra["copy_strategy"] != "wal-direct"
    app.execute("update items set name = 'edited' where id in (3, 1001, 2003)")
    before = db_content(db)
    outcome = service.merge_restore(
        "notes", MergeRequest("items", mode="deleted"), snapshot=then.id
    )
    assert outcome.inserted == 60
    safety = service.snapshot(str(outcome.safety_id))
    manifest = safety.manifest
    assert manifest.kind == "diff" and manifest.reason == "pre-restore" and manifest.protected
    # read from the file and the frames not yet copied back where they are, without a
    # checkpoint (core/wal_frames.wal_pages), whichever SQLite Lifeboat links
    assert manifest.extra["copy_strategy"] == "wal-direct"
    assert manifest.db_sha256 is None and manifest.extra["content_digest"]
    assert manifest.check_result == "ok"
    back = tmp_path / "before.db"
    service.restore(safety.id, to=back)
    assert db_content(back) == before
    # the app's connection goes on as before: it reads the merge and writes on
    assert app.execute("select count(*) from items").fetchone() == (3000,)
    app.execute("insert into items(name, payload) values ('after', x'00')")
    app.close()
    assert db_content(db)["items"][-1][1] == "after"


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_a_safety_snapshot_of_a_database_with_a_damaged_page_keeps_its_bytes_honestly(
    service: Service, tmp_path: Path, wal: bool
):
    db = make_db(tmp_path / "notes.db", rows=3000, wal=wal)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False)
    conn = sqlite3.connect(db, isolation_level=None)
    leaf = conn.execute(
        "select pageno from dbstat where name = 'items' and pagetype = 'leaf' limit 1 offset 20"
    ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:  # cells' pointers of one leaf page: damage quick_check sees
        fh.seek((leaf - 1) * 4096 + 8)
        fh.write(b"\xff" * 64)
    damaged = db.read_bytes()
    outcome = service.restore(then.id)
    safety = service.snapshot(str(outcome.safety_snapshot))
    # Not a differential that says "ok" (its check failed): the file's bytes, kept raw,
    # and said to be what they are.
    assert safety.manifest.kind == "raw" and safety.manifest.check_result != "ok"
    assert safety.manifest.reason == "pre-restore" and safety.manifest.protected
    back = tmp_path / "damaged.db"
    service.restore(safety.id, to=back)
    assert back.read_bytes() == damaged


def _damage_a_leaf(db: Path, table: str) -> tuple[int, bytes]:
    """Overwrite the cell pointers of one leaf page of `table` in the file (copied back
    from the WAL first): damage quick_check finds. Its page number and new bytes."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma wal_checkpoint(truncate)")
    leaf = conn.execute(
        "select pageno from dbstat where name = ? and pagetype = 'leaf' limit 1 offset 3",
        (table,),
    ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((leaf - 1) * 4096 + 8)
        fh.write(b"\xff" * 64)
        fh.seek((leaf - 1) * 4096)
        return leaf, fh.read(4096)


def test_a_damaged_database_found_under_the_merges_lock_is_kept_raw_and_exact(
    service: Service, tmp_path: Path, writer_process, caplog: pytest.LogCaptureFixture
):
    # The app commits every 2 ms: the safety snapshot is taken under the merge's write
    # lock (core/wal_direct.py). The damage it
    # finds (in a table the merge does not touch) makes it a raw copy, said to fail the
    # check, that holds the database exactly as it was right before the merge.
    db = make_db(tmp_path / "busy.db", rows=2000, wal=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("create table other(id integer primary key, body text)")
    conn.executemany("insert into other(body) values (?)", [("x" * 300,)] * 400)
    conn.close()
    service.add_source(db, schedule="manual")
    then = service.backup("busy", upload=False)
    conn = sqlite3.connect(db, isolation_level=None)
    lost = {r[0] for r in conn.execute("select id from items where id % 3 = 0")}
    conn.execute("delete from items where id % 3 = 0")
    conn.close()
    leaf, damaged = _damage_a_leaf(db, "other")
    writer = writer_process(db, 0.002)
    with caplog.at_level(logging.INFO, logger="lifeboat.jobs.merge"):
        outcome = service.merge_restore("busy", MergeRequest("items"), snapshot=then.id)
    assert "kept changing" in caplog.text
    writer.terminate()
    writer.wait(timeout=30)
    assert outcome.inserted == len(lost)
    safety = service.snapshot(str(outcome.safety_id)).manifest
    assert safety.kind == "raw" and safety.check_result != "ok"
    assert safety.reason == "pre-restore" and safety.protected
    back = tmp_path / "before.db"
    service.restore(safety.id, to=back)
    with open(back, "rb") as fh:  # the damage kept as it was, byte for byte
        fh.seek((leaf - 1) * 4096)
        assert fh.read(4096) == damaged
    kept = {r[0]: r for r in table_rows(back)}
    final = {r[0]: r for r in table_rows(db)}
    assert not set(kept) & lost, "the safety snapshot holds the database before the merge"
    assert all(final[i] == row for i, row in kept.items())
    later = set(final) - set(kept) - lost  # only the writer's commits after the merge
    assert all(final[i][1] == "writer" for i in later)
