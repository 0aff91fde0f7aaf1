"""A one-shot merge from a full snapshot reads only the rows of the pages that changed
(core/rowmerge_changed_rows) when it can prove that is enough: the rows come back
exactly, its safety snapshot restores the database as it was before, nothing the app
writes meanwhile is lost, and nothing is left in the run's scratch space."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db, table_rows

CHANGED_ROWS = "only the rows of the pages that changed"


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


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_rows_come_back_from_the_changed_pages_and_the_safety_snapshot_restores_the_before(
    service: Service, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, wal: bool
):
    db = make_db(tmp_path / "big.db", rows=6000, wal=wal)
    service.add_source(db, schedule="manual")
    then = service.backup("big", upload=False)
    old = {r[0]: r for r in table_rows(db)}
    _run(
        db,
        "delete from items where id % 499 = 0",
        "update items set name = 'edited' where id % 997 = 0",
        "insert into items(id, name, payload) values (90000, 'new', x'00')",
    )
    before = db_content(db)
    request = MergeRequest("items", prefer_past=True)
    with caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"):
        preview = service.merge_preview("big", request, snapshot=then.id)
        assert db_content(db) == before, "the preview writes nothing"
        outcome = service.merge_restore("big", request, snapshot=then.id, confirmed=preview)
    assert caplog.text.count(CHANGED_ROWS) == 2, "the preview and the merge read the same"
    assert preview == outcome.plan
    assert (outcome.inserted, outcome.updated) == (6000 // 499, 6000 // 997)
    plan = outcome.plan
    assert (plan.deleted, plan.changed, plan.added) == (12, 6, 1)
    assert plan.unchanged == 6000 - 12 - 6
    now = {r[0]: r for r in table_rows(db)}
    assert {i: now[i] for i in old} == old and now[90000][1] == "new"
    back = tmp_path / "before.db"
    service.restore(str(outcome.safety_id), to=back)
    assert db_content(back) == before
    assert not _scratch_files(home)


def test_nothing_a_writer_process_commits_is_lost_while_rows_come_back_from_a_big_table(
    service: Service, tmp_path: Path, writer_process
):
    db = make_db(tmp_path / "busy.db", rows=6000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("busy", upload=False)
    lost = {r[0] for r in table_rows(db) if r[0] % 301 == 0}
    _run(db, "delete from items where id % 301 = 0")
    writer = writer_process(db, 0.002)
    outcome = service.merge_restore("busy", MergeRequest("items"), snapshot=then.id)
    writer.terminate()
    writer.wait(timeout=30)
    # (whether the changed rows were read depends on the moment: the safety snapshot's
    # own frozen read can keep the live file from being frozen for them; the merge is
    # exact either way; tests/core/test_rowmerge_changed.py freezes it under a writer)
    written = len(Path(str(db) + ".latency").read_text().split())
    rows = table_rows(db)
    assert outcome.inserted == len(lost) and lost <= {r[0] for r in rows}
    assert sum(r[1] == "writer" for r in rows) == written, "every commit of the writer is there"
    back = tmp_path / "safety.db"
    service.restore(str(outcome.safety_id), to=back)
    kept = {r[0]: r for r in table_rows(back)}
    final = {r[0]: r for r in rows}
    assert not set(kept) & lost, "the safety snapshot holds the database before the merge"
    assert all(final[i] == row for i, row in kept.items())
    later = set(final) - set(kept) - lost
    assert all(final[i][1] == "writer" for i in later)


def _merge_with_a_commit_after_the_past(
    service: Service, source: str, request: MergeRequest, snapshot: str, *sql: str
):
    """service.merge_restore, with the app committing `sql` right after the past's
    changed rows were compared with its live file (before the plan and the lock): the
    moment a busy app can pick."""
    from lifeboat.core.live_pass import PassShare
    from lifeboat.jobs.base import run_job
    from lifeboat.jobs.merge import MergeJob

    db = service.workspace.config().source(source).path
    share = PassShare()
    with service._past(
        source, None, snapshot, request.table, no_progress, CancelToken(), (request, True), share
    ) as (record, words, produce):

        def produce_then_commit(past: Path, whole: bool = False) -> None:
            produce(past, whole)
            if not whole:  # the first past, compared with live
                _run(db, *sql)

        past = service.workspace.run.work_path(service.workspace.scratch(), "merge")
        job = MergeJob(
            service.workspace, record, past, words, request, None, produce_then_commit, share
        )
        try:
            return run_job(job, service.workspace.catalog).result
        finally:
            past.unlink(missing_ok=True)


@pytest.mark.parametrize("commit", ["delete", "update"])
def test_a_row_the_app_changes_after_the_changed_rows_were_compared_still_comes_back(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture, commit: str
):
    """The changed rows leave out every row whose page live holds unchanged: true of the
    live file when it was compared, not of it under the merge's lock once the app
    committed in between. A row deleted (or changed) then must come back as any other
    (the whole past's merge), and the figures must count it."""
    db = make_db(tmp_path / "big.db", rows=6000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("big", upload=False)
    old = {r[0]: r for r in table_rows(db)}
    _run(db, "delete from items where id % 499 = 0")
    request = MergeRequest("items", prefer_past=True)
    sql = {
        "delete": "delete from items where id = 3250",  # its page far from the others
        "update": "update items set name = 'the app' where id = 3250",
    }[commit]
    with caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"):
        outcome = _merge_with_a_commit_after_the_past(service, "big", request, then.id, sql)
    assert CHANGED_ROWS in caplog.text, "the first past was the changed rows"
    now = {r[0]: r for r in table_rows(db)}
    assert {i: now.get(i) for i in old} == old, "every row is as it was then, 3250 too"
    back = 6000 // 499
    assert (outcome.inserted, outcome.updated) == (
        (back + 1, 0) if commit == "delete" else (back, 1)
    )


def test_a_preview_while_the_app_holds_frames_not_copied_back_reads_them_and_writes_nothing(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """An app that keeps its connection open rarely leaves every frame copied back. The
    preview never checkpoints the app's file: it reads those frames where they are, and
    its plan is the whole past's (the merge that follows, which checkpoints under its
    own lock, finds the same)."""
    db = make_db(tmp_path / "big.db", rows=6000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("big", upload=False)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("pragma wal_checkpoint(truncate)")
    app.execute("delete from items where id % 499 = 0")
    app.execute("update items set name = 'edited' where id % 997 = 0")
    app.execute("insert into items(name, payload) select name, payload from items limit 500")
    files = {p: Path(p).read_bytes() for p in (str(db), f"{db}-wal")}
    request = MergeRequest("items", prefer_past=True)
    try:
        with caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"):
            preview = service.merge_preview("big", request, snapshot=then.id)
        assert CHANGED_ROWS in caplog.text, "the preview read only the changed rows"
        assert {p: Path(p).read_bytes() for p in files} == files, "the preview wrote nothing"
        assert (preview.deleted, preview.changed, preview.added) == (12, 6, 500)
        with service.merge_session("big", snapshot=then.id) as whole:  # the whole past
            assert whole.plan(request) == preview
        outcome = service.merge_restore("big", request, snapshot=then.id, confirmed=preview)
        assert outcome.plan == preview
    finally:
        app.close()
    assert (outcome.inserted, outcome.updated) == (12, 6)


def test_a_session_of_the_changed_rows_merges_its_past_again_and_refuses_a_stale_preview(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The CLI's preview, confirmation, merge: a session whose past holds only the rows
    that changed (of the live file as it was compared, the app committing since) merges
    with its past written again beside the safety snapshot; a preview the app has made
    stale since is refused, nothing changed."""
    db = make_db(tmp_path / "big.db", rows=6000, wal=True)
    service.add_source(db, schedule="manual")
    then = service.backup("big", upload=False)
    old = {r[0]: r for r in table_rows(db)}
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("delete from items where id % 499 = 0")
    request = MergeRequest("items")
    try:
        with (
            caplog.at_level(logging.INFO, logger="lifeboat.service.merge_past"),
            service.merge_session("big", snapshot=then.id, request=request) as session,
        ):
            stale = session.plan(request)
            assert CHANGED_ROWS in caplog.text
            app.execute("delete from items where id = 3250")  # after the preview
            before = db_content(db)
            with pytest.raises(LifeboatError, match="changed since the preview"):
                session.apply(request, stale)
            assert db_content(db) == before, "nothing changed"
            plan = session.plan(request)
            outcome = session.apply(request, plan)
        assert caplog.text.count(CHANGED_ROWS) >= 3, "each past of the changed rows alone"
    finally:
        app.close()
    assert (stale.deleted, plan.deleted, outcome.inserted) == (12, 13, 13)
    now = {r[0]: r for r in table_rows(db)}
    assert {i: now.get(i) for i in old} == old
    back = tmp_path / "before.db"
    service.restore(str(outcome.safety_id), to=back)
    assert db_content(back) == before
