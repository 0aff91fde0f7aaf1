"""Each database's one current problem, from its status (table tests, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lifeboat.foundation.states import Health
from lifeboat.service.overdue import overdue_when_new
from lifeboat.service.problems import is_live_damage, notes_of, problem_of
from lifeboat.service.status import SourceStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAMAGE = (
    '/data/crm.db is damaged: SQLite reports "database disk image is malformed" while '
    "copying it; no snapshot was stored"
)


def status(**changes: object) -> SourceStatus:
    base = SourceStatus(
        name="crm",
        path="/data/crm.db",
        schedule="daily 03:00",
        schedule_description="every day at 03:00",
        next_run=NOW + timedelta(hours=15),
        last_snapshot=NOW - timedelta(hours=9),
        last_snapshot_id="crm-1",
        last_result="ok",
        last_error=None,
        last_duration=1.0,
        running=False,
        retry_pending=False,
        stale=False,
        stale_after=timedelta(days=2),
        snapshots=3,
        snapshot_bytes=1000,
        failures_total=0,
        remote="offsite",
    )
    return replace(base, **changes)  # type: ignore[arg-type]  # a table's varied fields


@pytest.mark.parametrize(
    ("fields", "kind", "reason"),
    [
        ({}, None, None),
        ({"running": True}, None, None),
        (
            {"last_result": "failed", "last_error": "cannot read /data/crm.db: no such file."},
            Health.FAILED,
            "Backup failed: cannot read /data/crm.db: no such file",
        ),
        (  # the source's name in front of the error is not said twice
            {"last_result": "failed", "last_error": "crm: the database stayed locked for 30 s"},
            Health.FAILED,
            "Backup failed: the database stayed locked for 30 s",
        ),
        (
            {"last_result": "failed", "last_error": DAMAGE, "stale": True},
            Health.DAMAGED,
            'The database file is damaged (SQLite reports "database disk image is malformed")',
        ),
        (
            {
                "last_result": "failed",
                "last_error": "/d/crm.db fails SQLite's integrity check (quick): row 3 missing",
            },
            Health.DAMAGED,
            "The database file is damaged (it fails SQLite's integrity check)",
        ),
        (
            {"last_result": "failed", "last_error": "snapshot x is damaged: bad checksum"},
            Health.FAILED,
            "Backup failed: snapshot x is damaged: bad checksum",
        ),
        (
            {"stale": True, "last_snapshot": NOW - timedelta(days=3, hours=2)},
            Health.STALE,
            "Overdue: the last good backup is 3 days old",
        ),
        ({"stale": True, "last_snapshot": None}, Health.STALE, "Overdue: never backed up"),
        (
            {
                "remote_behind": True,
                "uploads_pending": 2,
                "last_upload_result": "failed",
                "last_upload_error": "cannot reach s3.example.com",
            },
            Health.REMOTE_UNREACHABLE,
            "Upload to offsite failed: cannot reach s3.example.com (2 backups waiting; "
            "kept on this computer)",
        ),
        # an upload failed once and a retry is on its way: a note, not yet a problem
        (
            {
                "uploads_pending": 1,
                "last_upload_result": "failed",
                "last_upload_error": "timeout",
                "retry_pending": True,
                "retry_kind": "upload",
            },
            None,
            None,
        ),
        # the retries gave up: now it is one
        (
            {"uploads_pending": 1, "last_upload_result": "failed", "last_upload_error": "x"},
            Health.REMOTE_UNREACHABLE,
            "Upload to offsite failed: x (1 backup waiting; kept on this computer)",
        ),
        (
            {"drill_passed": False, "drill_detail": "the restored copy has 0 rows"},
            Health.DRILL_FAILED,
            "Restore drill failed: the restored copy has 0 rows",
        ),
        # the more serious problem hides the other
        (
            {"last_result": "failed", "last_error": "disk full", "drill_passed": False},
            Health.FAILED,
            "Backup failed: disk full",
        ),
        ({"stale": True, "last_snapshot": None, "remote_behind": True}, Health.STALE, None),
        # damaged snapshots kept are a note
        ({"damaged": 2}, None, None),
    ],
)
def test_the_one_current_problem(fields, kind, reason):
    problem = problem_of(status(**fields), NOW)
    assert (problem.kind if problem else None) == kind
    if reason is not None:
        assert problem is not None and problem.reason == reason


@pytest.mark.parametrize(
    ("fields", "notes"),
    [
        ({}, []),
        (
            {"retry_kind": "upload", "last_upload_result": "failed", "retry_pending": True},
            ["Upload to offsite failed; it will be tried again"],
        ),
        (
            {"damaged": 1, "missing_files": 2},
            [
                "1 damaged snapshot kept (see History)",
                "2 snapshot files missing (see History)",
            ],
        ),
    ],
)
def test_notes_that_are_no_problem(fields, notes):
    assert notes_of(status(**fields)) == notes


@pytest.mark.parametrize(
    ("error", "damage"),
    [
        (DAMAGE, True),
        ('/d/x.db is damaged: SQLite reports "malformed database schema (t)"', True),
        ("/d/x.db fails SQLite's integrity check (full): *** in database main ***", True),
        ("/d/x.db is locked by another program: database is locked", False),
        ('/d/x.db could not be copied: SQLite says "file is not a database"', False),
        ("snapshot crm-1 is damaged: its checksum does not match", False),
        (None, False),
    ],
)
def test_only_sqlites_verdict_on_the_live_file_is_damage(error, damage):
    assert is_live_damage(error) is damage


ADDED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00


@pytest.mark.parametrize(
    ("first_run", "limit", "now", "overdue"),
    [
        # daily 03:00: added seconds ago, and a day later: not overdue
        (datetime(2026, 3, 3, 3, 0, tzinfo=UTC), timedelta(days=2), ADDED, False),
        (datetime(2026, 3, 3, 3, 0, tzinfo=UTC), timedelta(days=2), ADDED + timedelta(1), False),
        # two days with no backup at all: overdue
        (datetime(2026, 3, 3, 3, 0, tzinfo=UTC), timedelta(days=2), ADDED + timedelta(3), True),
        # overdue after 1 day, but the weekly schedule's first run is 6 days away: not yet
        (datetime(2026, 3, 8, 4, 0, tzinfo=UTC), timedelta(days=1), ADDED + timedelta(2), False),
        (
            datetime(2026, 3, 8, 4, 0, tzinfo=UTC),
            timedelta(days=1),
            datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
            False,
        ),
        (
            datetime(2026, 3, 8, 4, 0, tzinfo=UTC),
            timedelta(days=1),
            datetime(2026, 3, 8, 5, 30, tzinfo=UTC),
            True,
        ),
    ],
)
def test_a_new_database_is_not_overdue_before_its_first_run(first_run, limit, now, overdue):
    assert overdue_when_new(ADDED, [first_run], limit, now) is overdue
