"""A manual backup's progress: one bar across its steps (pure, table tests), then the
window driven like a user through a real tray app, scheduler and databases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lifeboat.foundation.events import JobFinished, JobProgress, JobQueued, JobStarted
from lifeboat.foundation.states import JobStatus
from lifeboat.gui.app import TrayApp
from lifeboat.gui.backup_progress import (
    UPLOAD_GRACE_S,
    ManualBackups,
    Stage,
    backup_fraction,
)
from lifeboat.service import Service
from tests.conftest import set_source
from tests.helpers.databases import make_db

# -- one bar across the steps -----------------------------------------------------------

PHASES = [("copy", 61, 100), ("copy", 100, 100), ("compress", 5, 100), ("compress", 100, 100)]


@pytest.mark.parametrize(
    ("phase", "done", "total", "uploads", "expected"),
    [
        ("copy", 0, 100, False, 0.0),
        ("copy", 100, 100, False, 35 / 80),
        ("compress", 0, 100, False, 35 / 80),
        ("compare", 50, 100, False, (35 + 22.5) / 80),
        ("compress", 100, 100, False, 1.0),
        ("compress", 100, 100, True, 80 / 100),
        ("upload", 50, 100, True, 88 / 100),
        ("read back", 100, 100, True, 1.0),
        ("copy", 5, 0, False, 0.0),  # no total yet
        ("decompress", 5, 10, False, None),  # not a step of a backup
    ],
)
def test_backup_fraction(phase, done, total, uploads, expected):
    result = backup_fraction(phase, done, total, uploads=uploads)
    assert result == (None if expected is None else pytest.approx(expected))


def test_the_bar_never_goes_back_across_phases():
    """Today's jump (copy 61% -> compress 5%) is a step forward on one bar."""
    backups = ManualBackups()
    backup = backups.start("notes", None)
    backups.on_event(JobStarted(7, "backup", "notes"), 0.0)
    seen = []
    for phase, done, total in [*PHASES, ("copy", 10, 100)]:  # a stray late report
        backups.on_event(JobProgress(7, "notes", phase, done, total), 0.0)
        seen.append(backup.fraction)
    assert seen == sorted(seen)
    assert 0 < seen[2] - seen[1] < 0.05  # compressing 5% is a small step on from the copy
    assert backup.text() == "Compressing the copy… 100%"


def _run(backups: ManualBackups, *events, now: float = 0.0):
    for event in events:
        backups.on_event(event, now)


@pytest.mark.parametrize(
    ("finished", "stage", "message"),
    [
        (JobFinished(1, "backup", "notes", JobStatus.OK, "s1"), Stage.DONE, "Backed up."),
        (
            JobFinished(
                1,
                "backup",
                "notes",
                JobStatus.OK,
                error="unchanged since the snapshot of 2026-03-04 12:54; nothing new stored",
                unchanged_since="s0",
            ),
            Stage.DONE,
            "Nothing changed since the backup of 2026-03-04 12:54; nothing new was stored.",
        ),
        (
            JobFinished(1, "backup", "notes", JobStatus.FAILED, error="the disk is full"),
            Stage.FAILED,
            "The backup failed: the disk is full",
        ),
        (
            JobFinished(1, "backup", "notes", JobStatus.CANCELLED, error="cancelled"),
            Stage.CANCELLED,
            "Cancelled: nothing was stored.",
        ),
    ],
)
def test_how_a_backup_without_remote_ends(finished, stage, message):
    backups = ManualBackups()
    backup = backups.start("notes", None)
    _run(backups, JobQueued(1, "backup", "notes", "manual"), JobStarted(1, "backup", "notes"))
    _run(backups, JobFinished(2, "backup", "crm", JobStatus.FAILED, error="not ours"))
    assert backup.stage is Stage.RUNNING
    _run(backups, finished)
    assert (backup.stage, backup.text()) == (stage, message)
    assert backups.active("notes") is None


@pytest.mark.parametrize(
    ("upload_status", "stage", "message"),
    [
        (JobStatus.OK, Stage.DONE, "Backed up and uploaded to offsite."),
        (
            JobStatus.FAILED,
            Stage.FAILED,
            "Backed up here, but the upload failed: timed out. It will be retried.",
        ),
    ],
)
def test_a_backup_with_a_remote_ends_with_its_upload(upload_status, stage, message):
    backups = ManualBackups()
    backup = backups.start("notes", "offsite")
    _run(backups, JobStarted(1, "backup", "notes"))
    _run(backups, JobProgress(1, "notes", "compress", 100, 100))
    _run(backups, JobFinished(1, "backup", "notes", JobStatus.OK, "s1"))
    assert backup.stage is Stage.FINISHING and backup.fraction == pytest.approx(0.8)
    _run(backups, JobStarted(2, "prune", "notes"), JobFinished(2, "prune", "notes", JobStatus.OK))
    _run(backups, JobStarted(3, "upload", "notes"))
    _run(backups, JobProgress(3, "notes", "upload", 1, 2))
    assert backup.text() == "Uploading to offsite… 88%"
    error = "timed out" if upload_status == JobStatus.FAILED else None
    _run(backups, JobFinished(3, "upload", "notes", upload_status, error=error))
    assert (backup.stage, backup.text()) == (stage, message)


def test_an_upload_that_never_starts_still_ends_the_backup():
    backups = ManualBackups()
    backup = backups.start("notes", "offsite")
    _run(backups, JobStarted(1, "backup", "notes"))
    _run(backups, JobFinished(1, "backup", "notes", JobStatus.OK, "s1"), now=100.0)
    assert backups.settle(100.0 + UPLOAD_GRACE_S - 1) == []
    assert backups.settle(100.0 + UPLOAD_GRACE_S) == [backup]
    assert backup.stage is Stage.DONE


# -- the window, through a real tray app -----------------------------------------------


def _text(tray_app: TrayApp, source: str) -> str:
    row = tray_app.backups.window.rows.get(source)
    return row.text.text() if row is not None else ""


def test_back_up_now_shows_one_bar_that_only_moves_forward(
    qtbot, tray_app: TrayApp, service: Service
):
    window = tray_app.backups.window
    values: list[int] = []
    tray_app.tray.action("backup:notes").trigger()
    assert window.isVisible()
    bar = window.rows["notes"].bar
    bar.valueChanged.connect(values.append)
    qtbot.waitUntil(lambda: _text(tray_app, "notes") == "Backed up.", timeout=20_000)
    assert len(service.snapshots("notes")) == 1
    assert values == sorted(values) and values[-1] == bar.maximum()
    assert not window.rows["notes"].cancel.isVisible()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)  # all worked: it closes


def test_a_failed_manual_backup_says_why_in_the_window(
    qtbot, tray_app: TrayApp, two_sources: tuple[Path, Path]
):
    notes, _ = two_sources
    notes.rename(notes.with_name("notes.db.away"))
    tray_app.backup_now("notes")
    qtbot.waitUntil(
        lambda: _text(tray_app, "notes").startswith("The backup failed: "), timeout=20_000
    )
    assert "notes.db" in _text(tray_app, "notes")
    qtbot.wait(CLOSE_WAIT_MS)
    assert tray_app.backups.window.isVisible()  # a failure stays until it is read


CLOSE_WAIT_MS = 4500


def test_a_backup_under_way_is_not_asked_twice_and_can_be_cancelled(
    qtbot, make_tray, service: Service, home: Path, tmp_path: Path
):
    db = make_db(tmp_path / "ledger.db", rows=300)
    service.add_source(db, schedule="manual")
    started = tmp_path / "hook-started"
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    set_source(home, "ledger", before=[sys.executable, "-c", script, str(started)])
    tray_app = make_tray()
    tray_app.backup_now("ledger")
    qtbot.waitUntil(started.exists, timeout=15_000)  # the backup runs (its hook waits)
    assert not tray_app.can_back_up("ledger")
    tray_app.backup_now("ledger")  # a second click only shows the window
    assert tray_app.backups.window.isVisible()
    assert len([j for j in service.jobs() if j.kind == "backup"]) == 1
    tray_app.backups.window.rows["ledger"].cancel.click()
    assert _text(tray_app, "ledger") == "Cancelling…"
    qtbot.waitUntil(
        lambda: _text(tray_app, "ledger") == "Cancelled: nothing was stored.", timeout=15_000
    )
    assert service.snapshots("ledger") == []
    assert service.jobs()[0].status == "cancelled"
    qtbot.waitUntil(lambda: tray_app.can_back_up("ledger"), timeout=10_000)


def test_back_up_now_is_greyed_while_that_backup_runs(qtbot, make_tray, service, home, tmp_path):
    db = make_db(tmp_path / "ledger.db", rows=300)
    service.add_source(db, schedule="manual")
    service.add_source(make_db(tmp_path / "notes.db", rows=30), schedule="manual")
    started = tmp_path / "hook-started"
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    set_source(home, "ledger", before=[sys.executable, "-c", script, str(started)])
    tray_app = make_tray()
    tray = tray_app.tray
    tray.action("backup:ledger").trigger()
    qtbot.waitUntil(started.exists, timeout=15_000)
    qtbot.waitUntil(lambda: not tray.action("backup:ledger").isEnabled(), timeout=10_000)
    assert tray.action("backup:notes").isEnabled() and tray.action("backup-all").isEnabled()
    tray_app.cancel_backup("ledger")
    qtbot.waitUntil(lambda: tray.action("backup:ledger").isEnabled(), timeout=15_000)


def test_memory_is_given_back_once_the_work_has_ended(qtbot, tray_app: TrayApp):
    from lifeboat.gui.memory import release_free_memory

    trims = tray_app._trim.trims
    tray_app.backup_now("notes")
    qtbot.waitUntil(lambda: _text(tray_app, "notes") == "Backed up.", timeout=20_000)
    qtbot.waitUntil(lambda: tray_app._trim.trims == trims + 1, timeout=10_000)
    assert release_free_memory() in (True, False)  # callable here, whatever the libc


def test_back_up_now_while_the_same_backup_was_just_queued_follows_that_one(
    qtbot, make_tray, service: Service, home: Path, tmp_path: Path
):
    """Clicked right after the schedule queued the same backup (before the tray heard of
    it): the scheduler refuses a second one, and the window follows the one under way
    instead of saying the backup failed."""
    db = make_db(tmp_path / "ledger.db", rows=300)
    service.add_source(db, schedule="manual")
    started = tmp_path / "hook-started"
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    set_source(home, "ledger", before=[sys.executable, "-c", script, str(started)])
    tray_app = make_tray()
    assert tray_app.scheduler is not None
    tray_app.scheduler.backup_now(["ledger"])  # as the schedule would
    tray_app.backup_now("ledger")  # the click, before the tray knows of it
    qtbot.waitUntil(started.exists, timeout=15_000)
    backup = tray_app.backups.manual.backups["ledger"]
    qtbot.waitUntil(lambda: backup.job_id is not None, timeout=15_000)
    assert "did not start" not in _text(tray_app, "ledger")
    assert len([j for j in service.jobs() if j.kind == "backup"]) == 1
    tray_app.backups.window.rows["ledger"].cancel.click()
    qtbot.waitUntil(
        lambda: _text(tray_app, "ledger") == "Cancelled: nothing was stored.", timeout=15_000
    )
