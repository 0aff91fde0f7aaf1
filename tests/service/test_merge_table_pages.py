"""A merge of a small table of a bigger database reads only that table's pages of the
past (no whole rebuild), from a snapshot and from a point of the continuous history;
the rows come back exactly, the preview counts the same, and nothing is left in the
run's scratch space."""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.follower import Follower
from lifeboat.core.private import private_dir
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.service import Service
from lifeboat.service.history import history_folder

ONLY_PAGES = "only its pages were read"


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _db(path: Path) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table filler(id integer primary key, data blob)")
    conn.execute("create table notes(id integer primary key, body text)")
    conn.execute("begin")
    conn.executemany(
        "insert into filler(data) values (?)", [(os.urandom(3500),) for _ in range(300)]
    )
    conn.executemany("insert into notes values (?, ?)", [(i, f"note {i}") for i in range(1, 41)])
    conn.execute("commit")
    conn.close()
    return path


def _notes(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select id, body from notes order by id").fetchall()
    finally:
        conn.close()


def _scratch_files(home: Path) -> list[Path]:
    return [p for p in (home / "tmp").rglob("*") if p.is_file()] if (home / "tmp").exists() else []


def test_rows_of_a_small_table_come_back_from_its_pages_of_a_snapshot(
    service: Service, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    db = _db(tmp_path / "app.db")
    service.add_source(db, schedule="manual")
    then = service.backup("app", upload=False)
    before = _notes(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("delete from notes where id % 4 = 0")
    conn.execute("update notes set body = 'edited' where id = 5")
    conn.close()
    request = MergeRequest("notes", prefer_past=True)
    with caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"):
        plan = service.merge_preview("app", request, snapshot=then.id)
        outcome = service.merge_restore("app", request, snapshot=then.id, confirmed=plan)
    assert caplog.text.count(ONLY_PAGES) == 2, caplog.text
    assert (plan.to_insert, plan.overwritten) == (10, 1)
    assert (outcome.inserted, outcome.updated) == (10, 1)
    assert _notes(db) == before
    assert not _scratch_files(home)


def test_rows_of_a_small_table_come_back_from_its_pages_of_a_history_point(
    service: Service, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    db = _db(tmp_path / "diary.db")
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
    conn = sqlite3.connect(db, isolation_level=None)
    for k in range(41, 46):
        conn.execute("insert into notes values (?, ?)", (k, f"later {k}"))
        follower.poll()
    middle = datetime.now(UTC)
    wanted = _notes(db)
    conn.execute("delete from notes where id > 30")
    follower.poll()
    follower.close()
    conn.close()
    with caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"):
        outcome = service.merge_restore("diary", MergeRequest("notes"), at=middle)
    assert ONLY_PAGES in caplog.text, caplog.text
    assert "commit" in outcome.past and outcome.inserted == 15
    assert _notes(db) == wanted
    assert not _scratch_files(home)
