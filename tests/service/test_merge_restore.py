"""Bring back only what was lost, through the service and the CLI: from a snapshot and
from a point of the continuous history, with a safety snapshot that restores the
database exactly as it was before the merge, while a writer process keeps writing."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.follower import Follower
from lifeboat.core.private import private_dir
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.foundation.errors import LifeboatError, OperationFailed
from lifeboat.service import Service
from lifeboat.service.history import history_folder
from lifeboat.storage.memory import MemoryStores
from tests.helpers.databases import db_content, make_db, table_rows
from tests.helpers.memory_remote import add_memory_remote


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _run(db: Path, *sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    for statement in sql:
        conn.execute(statement)
    conn.close()


def _scratch_files(home: Path) -> list[Path]:
    return [p for p in (home / "tmp").rglob("*") if p.is_file()] if (home / "tmp").exists() else []


def test_a_merge_brings_back_what_was_lost_and_its_safety_snapshot_restores_the_before(
    service: Service, home: Path, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=300)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False)
    lost = [r for r in table_rows(db) if r[0] % 10 == 0]
    _run(
        db,
        "delete from items where id % 10 = 0",
        "update items set name = 'renamed' where id % 7 = 0",
        "insert into items(id, name, payload) values (1000, 'new', x'00')",
    )
    before = db_content(db)
    request = MergeRequest("items")
    plan = service.merge_preview("notes", request, snapshot=then.id)
    assert (plan.deleted, plan.to_insert, plan.added) == (30, 30, 1)
    assert (
        plan.changed
        == plan.skipped_changed
        == len([i for i in range(1, 301) if i % 7 == 0 and i % 10])
    )
    outcome = service.merge_restore("notes", request, snapshot=then.id, confirmed=plan)
    assert (outcome.inserted, outcome.updated) == (30, 0)
    now = table_rows(db)
    assert set(lost) <= set(now) and ("new" in {r[1] for r in now})
    assert sum(r[1] == "renamed" for r in now) == plan.changed, "changed rows kept (live wins)"
    assert outcome.safety_id is not None
    safety = service.snapshot(outcome.safety_id)
    assert safety.manifest.protected
    assert set(outcome.phases) >= {"safety", "base_proof", "past", "plan", "write_lock_held"}
    back = tmp_path / "before.db"
    service.restore(safety.id, to=back)
    assert db_content(back) == before
    assert not _scratch_files(home), "the past copy is gone"
    job = service.jobs(limit=1)[0]
    assert job.status == "ok" and "merge" in (job.detail or "")


def test_the_safety_snapshot_is_a_differential_that_restores_the_before_exactly(
    service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "big.db", rows=5000)
    service.add_source(db, schedule="manual")
    then = service.backup("big", upload=False)
    _run(db, "delete from items where id in (10, 2000, 4000)")
    _run(db, "update items set name = 'y' where id = 5")
    before = db_content(db)
    request = MergeRequest("items", mode="deleted")
    outcome = service.merge_restore("big", request, snapshot=then.id)
    assert outcome.inserted == 3
    safety = service.snapshot(str(outcome.safety_id))
    assert safety.manifest.kind == "diff" and safety.manifest.base == then.id
    back = tmp_path / "before.db"
    service.restore(safety.id, to=back)
    assert db_content(back) == before


def test_a_refused_merge_changes_nothing_and_keeps_no_safety_snapshot(
    service: Service, tmp_path: Path
):
    db = tmp_path / "shop.db"
    _run(
        db,
        "pragma journal_mode=wal",
        "create table folders(id integer primary key, name text)",
        "create table notes(id integer primary key, folder int references folders(id), t text)",
        "insert into folders values (1, 'a'), (2, 'b')",
        "insert into notes values (1, 1, 'x'), (2, 2, 'y')",
    )
    service.add_source(db, schedule="manual")
    then = service.backup("shop", upload=False)
    _run(db, "delete from notes", "delete from folders where id = 2")
    before, snapshots = db_content(db), len(service.snapshots("shop"))
    with pytest.raises(OperationFailed, match="folders no longer has"):
        service.merge_restore("shop", MergeRequest("notes"), snapshot=then.id)
    assert db_content(db) == before
    assert len(service.snapshots("shop")) == snapshots, "its safety snapshot was dropped"


def test_rows_come_back_from_a_point_of_the_continuous_history(
    service: Service, home: Path, tmp_path: Path
):
    db = tmp_path / "diary.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table notes(id integer primary key, body text)")
    service.add_source(db, schedule="manual")
    workspace = service.workspace
    src = workspace.config().source("diary")
    folder = private_dir(history_folder(workspace, src), "history folder")

    def take_base() -> BaseRef:
        record = service.backup("diary", full=True, upload=False)
        return BaseRef(record.manifest, record.folder)

    follower = Follower(
        "diary", db, folder, workspace.run, workspace.scratch(), take_base, write_every_s=0
    )
    follower.start()
    marks = []
    for k in range(12):
        conn.execute("insert into notes(body) values (?)", (f"note {k}",))
        follower.poll()
        marks.append(datetime.now(UTC))
    conn.execute("delete from notes where id <= 6")
    conn.execute("update notes set body = 'edited' where id = 7")
    follower.poll()
    follower.close()
    conn.close()
    request = MergeRequest("notes", prefer_past=True)
    outcome = service.merge_restore("diary", request, at=marks[7])
    assert (outcome.inserted, outcome.updated) == (6, 1)
    assert "commit" in outcome.past
    assert table_rows(db, "notes") == [(i, f"note {i - 1}") for i in range(1, 13)]
    assert not _scratch_files(home)


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_nothing_a_writer_process_commits_is_lost_while_a_merge_runs(
    service: Service, tmp_path: Path, writer_process, wal: bool, caplog: pytest.LogCaptureFixture
):
    db = make_db(tmp_path / "busy.db", rows=2000, wal=wal)
    service.add_source(db, schedule="manual")
    then = service.backup("busy", upload=False)
    lost = {r[0] for r in table_rows(db) if r[0] % 3 == 0}
    _run(db, "delete from items where id % 3 = 0")
    writer = writer_process(db, 0.002)
    with caplog.at_level(logging.INFO, logger="lifeboat.jobs.merge"):
        outcome = service.merge_restore("busy", MergeRequest("items"), snapshot=then.id)
    # a commit every 2 ms: the safety snapshot is taken under the merge's lock, and the
    # plan made before it is kept (the writer's rows are not the ones it brings back)
    assert "kept changing" in caplog.text and "made again" not in caplog.text
    writer.terminate()
    writer.wait(timeout=30)
    written = len(Path(str(db) + ".latency").read_text().split())
    rows = table_rows(db)
    assert outcome.inserted == len(lost) and lost <= {r[0] for r in rows}
    assert sum(r[1] == "writer" for r in rows) == written, "every commit of the writer is there"
    assert outcome.safety_id is not None
    if wal:  # read from the file after a checkpoint run under the merge's own write lock,
        # on an SQLite with the WAL-reset bug too (no commit can meet it: core/wal_reset.py)
        taken = service.snapshot(str(outcome.safety_id)).manifest
        assert taken.extra["copy_strategy"] == "wal-direct"
    back = tmp_path / "safety.db"
    service.restore(outcome.safety_id, to=back)
    kept = {r[0]: r for r in table_rows(back)}
    final = {r[0]: r for r in rows}
    assert not set(kept) & lost, "the safety snapshot holds the database before the merge"
    assert all(final[i] == row for i, row in kept.items())
    # Exactly the database right before the merge: what it lacks of the final one is the
    # rows brought back and the writer's commits made after the merge (a suffix of them).
    later = set(final) - set(kept) - lost
    assert all(final[i][1] == "writer" for i in later)
    before = [i for i, row in kept.items() if row[1] == "writer"]
    assert min(later, default=10**9) > max(before, default=0)


def test_the_cli_previews_asks_and_refuses_bad_input_in_one_line(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=50)
    assert cli("source", "add", str(db), "--schedule", "manual").code == 0
    assert cli("backup", "notes").code == 0
    snapshot = json.loads(cli("snapshots", "notes", "--json").out)[0]["id"]
    _run(db, "delete from items where id <= 5")
    dry = cli("restore", "notes", "--from", snapshot, "--table", "items", "--dry-run", "--json")
    assert dry.code == 0 and json.loads(dry.out)["plan"]["to_insert"] == 5
    shown = cli(
        "restore", "notes", "--from", snapshot, "--table", "items", "--show-rows", "2", "--dry-run"
    )
    assert "deleted since: 5" in shown.out and shown.out.count("deleted: id=") == 2
    asked = cli("restore", "notes", "--from", snapshot, "--table", "items")
    assert asked.code == 2 and "nothing changed" in asked.err
    assert len(table_rows(db)) == 45
    for args, words in [
        (("--table", "items"), "--at TIME or --from ID"),
        (("--from", snapshot, "--table", "items", "--where", "nope = 1"), "--where"),
        (("--from", snapshot, "--table", "gone"), "no table gone then"),
        (
            ("--from", snapshot, "--table", "items", "--deleted-only", "--prefer", "past"),
            "--prefer",
        ),
    ]:
        result = cli("restore", "notes", *args)
        assert result.code == 2 and words in result.err, result.err
        assert "Traceback" not in result.err
    done = cli("restore", "notes", "--from", snapshot, "--table", "items", "--yes")
    assert done.code == 0 and "brought back 5 row(s)" in done.out
    assert "protected snapshot" in done.out
    assert len(table_rows(db)) == 50


def test_a_snapshot_of_another_source_is_refused(service: Service, tmp_path: Path):
    one, two = make_db(tmp_path / "one.db", rows=5), make_db(tmp_path / "two.db", rows=5)
    service.add_source(one, schedule="manual")
    service.add_source(two, schedule="manual")
    other = service.backup("two", upload=False)
    with pytest.raises(LifeboatError, match="is of two, not of one"):
        service.merge_preview("one", MergeRequest("items"), snapshot=other.id)


def test_rows_come_back_from_a_sealed_snapshot_and_a_remote_only_one(
    home: Path, tmp_path: Path, file_keyring: Path
):
    service = Service(stores=MemoryStores())
    service.init_key()
    add_memory_remote(service, "offsite")
    db = make_db(tmp_path / "secret.db", rows=80)
    service.add_source(db, name="secret", encrypt_local=True, remote="offsite")
    sealed = service.backup("secret")
    assert sealed.manifest.local_encryption is not None
    _run(db, "delete from items where id <= 10")
    outcome = service.merge_restore("secret", MergeRequest("items"), snapshot=sealed.id)
    assert outcome.inserted == 10 and len(table_rows(db)) == 80
    assert not _scratch_files(home), "nothing decrypted is left"
    _run(db, "delete from items where id > 70")
    service.set_protected(outcome.safety_id or "", False)
    service.delete_snapshot(outcome.safety_id or "")
    service.delete_snapshot(sealed.id)
    assert not service.snapshot(sealed.id).path.exists(), "kept on the remote only"
    again = service.merge_restore("secret", MergeRequest("items"), snapshot=sealed.id)
    assert again.inserted == 10 and len(table_rows(db)) == 80
    assert not _scratch_files(home)


def test_a_session_over_a_snapshot_on_the_remote_only_downloads_it_once(
    home: Path, tmp_path: Path, file_keyring: Path
):
    """The CLI's preview, confirmation and merge over a snapshot kept on the remote
    only: the past is fetched once and merged as it was previewed. (A past of only the
    rows that changed is written again for the merge; a fetched snapshot brings no
    page-hash list, so it is never one, and it must not become one at the cost of a
    second download.)"""
    service = Service(stores=MemoryStores())
    add_memory_remote(service, "offsite")
    db = make_db(tmp_path / "notes.db", rows=3000, wal=True)
    service.add_source(db, name="notes", remote="offsite")
    then = service.backup("notes")
    service.delete_snapshot(then.id)
    assert not service.snapshot(then.id).path.exists(), "kept on the remote only"
    _run(db, "delete from items where id % 100 = 0")
    downloads: list[int] = []

    def seen(phase: str, done: int, total: int) -> None:
        if phase == "download" and done == total:
            downloads.append(total)

    request = MergeRequest("items")
    with service.merge_session("notes", snapshot=then.id, request=request, progress=seen) as one:
        plan = one.plan(request)
        outcome = one.apply(request, plan, progress=seen)
    assert (plan.deleted, outcome.inserted) == (30, 30) and len(table_rows(db)) == 3000
    assert downloads.count(then.manifest.size) == 1, downloads
    assert not _scratch_files(home)


_CACHE_WRITER = """
import signal, sys, time
import diskcache
cache = diskcache.Cache(sys.argv[1])
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
written = 0
while running:
    cache.set(f"w{written}", written)
    written += 1
    if written == 1:
        print("ready", flush=True)
    time.sleep(0.001)
cache.close()
with open(sys.argv[2], "w") as fh:
    fh.write(str(written))
"""


def test_a_diskcache_keeps_writing_while_its_deleted_entries_come_back(
    service: Service, tmp_path: Path
):
    diskcache = pytest.importorskip("diskcache")
    folder = tmp_path / "cache"
    cache = diskcache.Cache(str(folder))
    for i in range(300):
        cache.set(f"k{i}", i)
    cache.close()
    db = folder / "cache.db"
    service.add_source(db, name="cache", schedule="manual")
    then = service.backup("cache", upload=False)
    cache = diskcache.Cache(str(folder))
    for i in range(0, 300, 3):
        cache.delete(f"k{i}")
    cache.close()
    count_file = tmp_path / "written"
    writer = subprocess.Popen(
        [sys.executable, "-c", _CACHE_WRITER, str(folder), str(count_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        outcome = service.merge_restore("cache", MergeRequest("Cache"), snapshot=then.id)
    finally:
        writer.terminate()
        writer.wait(timeout=60)
    written = int(count_file.read_text())
    assert outcome.inserted == 100 and "Settings_count_insert" in outcome.plan.triggers
    cache = diskcache.Cache(str(folder))
    try:
        assert all(cache.get(f"k{i}") == i for i in range(300)), "every entry is back"
        assert all(cache.get(f"w{i}") == i for i in range(written)), "nothing written is lost"
        assert len(cache) == 300 + written, "the app's triggers kept its count right"
    finally:
        cache.close()


def test_a_safety_snapshot_the_app_outdates_is_stopped_and_leaves_nothing(
    service: Service, home: Path, tmp_path: Path, writer_process, caplog: pytest.LogCaptureFixture
):
    # The app commits every 2 ms: each safety snapshot taken without the lock is outdated
    # within milliseconds, and is stopped then (jobs/merge.py, _unless_changed) instead
    # of finished; it leaves no snapshot and no work file. The one taken under the lock
    # holds exactly the database before the merge, every commit of the writer is kept.
    db = make_db(tmp_path / "busy.db", rows=20_000, payload=400, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("busy", upload=False)
    lost = {
        r[0] for r in table_rows(db) if r[0] % 7 == 2
    }  # (never the last id: the writer takes it again)
    _run(db, "delete from items where id % 7 = 2")
    writer = writer_process(db, 0.002)
    with caplog.at_level(logging.INFO, logger="lifeboat.jobs.merge"):
        outcome = service.merge_restore("busy", MergeRequest("items"), snapshot=then.id)
    assert "it was stopped" in caplog.text and "kept changing" in caplog.text
    writer.terminate()
    writer.wait(timeout=30)
    written = len(Path(str(db) + ".latency").read_text().split())
    final = {r[0]: r for r in table_rows(db)}
    assert outcome.inserted == len(lost) and lost <= set(final)
    assert sum(r[1] == "writer" for r in final.values()) == written
    # nothing of the stopped ones: the snapshot it stood on and the one under the lock
    assert {s.id for s in service.snapshots("busy")} == {then.id, outcome.safety_id}
    folder = home / "snapshots" / "busy"
    assert not [p for p in folder.iterdir() if ".lb-" in p.name or p.suffix == ".partial"]
    assert not _scratch_files(home)
    back = tmp_path / "before.db"
    service.restore(str(outcome.safety_id), to=back)
    kept = {r[0]: r for r in table_rows(back)}
    assert not set(kept) & lost and all(final[i] == row for i, row in kept.items())
    assert all(final[i][1] == "writer" for i in set(final) - set(kept) - lost)


def test_a_merge_cancelled_as_its_safety_snapshot_starts_changes_nothing_and_keeps_nothing(
    service: Service, home: Path, tmp_path: Path
):
    # The cancel reaches the safety snapshot's thread through its watch
    # (jobs/merge_watch.py): the merge stops, its safety snapshot goes with it.
    from lifeboat.foundation.errors import Cancelled
    from lifeboat.foundation.progress import CancelToken

    db = make_db(tmp_path / "notes.db", rows=20_000, payload=400, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("notes", upload=False)
    _run(db, "delete from items where id % 5 = 0")
    before = db_content(db)
    cancel = CancelToken()

    def progress(step: str, done: float, total: float) -> None:
        if step == "safety snapshot":
            cancel.cancel()

    with pytest.raises(Cancelled):
        service.merge_restore(
            "notes", MergeRequest("items"), snapshot=then.id, progress=progress, cancel=cancel
        )
    assert db_content(db) == before
    assert [s.id for s in service.snapshots("notes")] == [then.id]
    folder = home / "snapshots" / "notes"
    assert not [p for p in folder.iterdir() if ".lb-" in p.name]
    assert not _scratch_files(home)
