"""The snapshot engine against real databases, real writer processes and real tools."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lifeboat.core.dbcopy import CopySettings, copy_database
from lifeboat.core.fsutil import require_space
from lifeboat.core.manifest import read_manifest
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.foundation.errors import Cancelled, OperationFailed, SourceBusy, SourceError
from lifeboat.foundation.progress import CancelToken
from tests.helpers.databases import make_db, max_id, table_rows
from tests.helpers.workfiles import files_under, snapshot_request

needs_tools = pytest.mark.skipif(
    not (shutil.which("zstd") and shutil.which("sqlite3")),
    reason="needs the zstd and sqlite3 command-line tools",
)


def request(tmp_path: Path, db: Path, **kw: object) -> SnapshotRequest:
    return snapshot_request(tmp_path, db, **kw)


def restore_with_stock_tools(artifact: Path, out: Path) -> str:
    subprocess.run(["zstd", "-d", "-q", "-f", str(artifact), "-o", str(out)], check=True)
    check = subprocess.run(
        ["sqlite3", str(out), "pragma integrity_check"], check=True, capture_output=True, text=True
    )
    return check.stdout.strip()


@needs_tools
@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback"])
def test_snapshot_of_live_database_under_writer(tmp_path: Path, writer_process, wal: bool):
    db = make_db(tmp_path / "live.db", rows=3000, payload=600, wal=wal)
    writer_process(db, 0.005)
    time.sleep(0.2)
    committed = max_id(db)
    manifest = take_snapshot(request(tmp_path, db))
    artifact = tmp_path / "snaps" / "notes" / manifest.artifact
    restored = tmp_path / "restored.db"
    assert restore_with_stock_tools(artifact, restored) == "ok"
    ids = {row[0] for row in table_rows(restored)}
    assert set(range(1, committed + 1)) <= ids, "a row committed before the snapshot is missing"
    assert not Path(f"{restored}-wal").exists()
    with sqlite3.connect(restored) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"
    assert manifest.journal_mode == ("wal" if wal else "rollback")
    assert manifest.page_count * manifest.page_size == manifest.db_size == restored.stat().st_size


def test_manifest_records_what_was_taken(tmp_path: Path, db: Path):
    manifest = take_snapshot(request(tmp_path, db, reason="pre-migration", protected=True))
    on_disk = read_manifest(tmp_path / "snaps" / "notes" / manifest.manifest_name)
    assert on_disk == manifest
    data = on_disk.to_dict()
    for key in (
        "format",
        "id",
        "source",
        "created_at",
        "db_size",
        "size",
        "sha256",
        "check_mode",
        "check_result",
        "sqlite_version",
        "page_size",
        "page_count",
        "reason",
        "protected",
    ):
        assert key in data
    assert data["format"] == 3 and data["protected"] is True and data["kind"] == "full"
    assert data["tables"] == {"items": 200} and len(data["schema_sha256"]) == 64
    pages = tmp_path / "snaps" / "notes" / f"{manifest.stem}.pages"
    assert pages.stat().st_size == manifest.page_count * 16
    assert data["reason"] == "pre-migration" and data["check_result"] == "ok"
    assert manifest.artifact == f"{manifest.stem}.sqlite.zst"
    assert manifest.artifact.startswith("notes-") and manifest.artifact.count("-") == 2


@pytest.mark.parametrize("page_size", [1024, 65536])
def test_page_sizes_survive(tmp_path: Path, page_size: int):
    db = make_db(tmp_path / "p.db", rows=300, page_size=page_size, wal=False)
    manifest = take_snapshot(request(tmp_path, db))
    assert manifest.page_size == page_size


def test_rollback_copy_never_livelocks_under_constant_writes(tmp_path: Path, writer_process):
    db = make_db(tmp_path / "busy.db", rows=20000, payload=400, wal=False)
    writer_process(db, 0.0)
    committed = max_id(db)
    # After the first step the database surely changes (this write, or the writer
    # process's it waits for), so the next step starts over whatever the machine's speed:
    # only the final pass can finish the copy. (A 0.5 s deadline used to end the stepped
    # copy instead, before any restart, on a loaded machine.)
    between = sqlite3.connect(db, timeout=30, isolation_level=None)
    wrote: list[int] = []

    def write_after_the_first_step(phase: str, done: int, total: int) -> None:
        if not wrote:
            between.execute("insert into items(name, payload) values ('between', x'00')")
            wrote.append(done)

    settings = CopySettings(
        step_pages=1024, step_pause=0.002, stepped_deadline=60, max_restarts=0, converging=False
    )
    try:
        result = copy_database(
            db, tmp_path / "copy.db", settings=settings, progress=write_after_the_first_step
        )
    finally:
        between.close()
    assert result.strategy == "stepped+final-pass"
    assert result.restarts >= 1
    conn = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert (
            conn.execute("select count(*) from items where id <= ?", (committed,)).fetchone()[0]
            == committed
        )
    finally:
        conn.close()


def test_locked_source_times_out_with_clear_error(tmp_path: Path, db: Path):
    rollback = make_db(tmp_path / "r.db", rows=50, wal=False)
    holder = sqlite3.connect(rollback, isolation_level=None)
    holder.execute("begin exclusive")
    try:
        started = time.monotonic()
        with pytest.raises(SourceBusy) as err:
            take_snapshot(request(tmp_path, rollback, copy=CopySettings(busy_timeout=1.0)))
        assert time.monotonic() - started < 15
        assert "locked" in err.value.message
    finally:
        holder.execute("rollback")
        holder.close()
    assert not list((tmp_path / "snaps" / "notes").glob("*"))


def test_damaged_source_is_never_stored(tmp_path: Path):
    db = make_db(tmp_path / "bad.db", rows=2000, wal=False, payload=300)
    with open(db, "r+b") as fh:  # scribble over an index page in the middle
        fh.seek(4096 * 20)
        fh.write(b"\xff" * 4096)
    with pytest.raises((SourceError, OperationFailed)):
        take_snapshot(request(tmp_path, db, check="full"))
    folder = tmp_path / "snaps" / "notes"
    assert not list(folder.glob("*.sqlite.zst")) and not list(folder.glob("*.json"))
    assert not files_under(tmp_path / "tmp")


def test_cancel_leaves_nothing(tmp_path: Path):
    db = make_db(tmp_path / "big.db", rows=20000, payload=1000)
    cancel = CancelToken()

    def on_progress(phase: str, done: int, total: int) -> None:
        if phase == "compress":
            cancel.cancel()

    with pytest.raises(Cancelled):
        take_snapshot(request(tmp_path, db), progress=on_progress, cancel=cancel)
    assert not [p for p in (tmp_path / "snaps" / "notes").iterdir()]
    assert not files_under(tmp_path / "tmp")


def test_progress_reports_copy_and_compress(tmp_path: Path, db: Path):
    seen: dict[str, tuple[int, int]] = {}
    take_snapshot(
        request(tmp_path, db),
        progress=lambda phase, done, total: seen.__setitem__(phase, (done, total)),
    )
    assert seen["copy"][0] == seen["copy"][1] > 0
    assert seen["compress"][0] == seen["compress"][1] > 0


def test_snapshot_runs_off_the_callers_thread_without_blocking_it(tmp_path: Path):
    db = make_db(tmp_path / "t.db", rows=5000, payload=500)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (take_snapshot(request(tmp_path, db)), done.set()))
    thread.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    thread.join()
    assert ticks > 0


def test_not_enough_space_is_refused(tmp_path: Path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(OperationFailed) as err:
        require_space(tmp_path, free + (1 << 40), "the snapshot")
    assert "not enough free space" in err.value.message
