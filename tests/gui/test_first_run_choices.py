"""The first run's decisions as plain functions (no Qt, no dialogs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.core.schedule import parse_schedule
from lifeboat.gui.first_run_choices import (
    DAILY,
    HOURLY,
    WEEKLY,
    on_same_disk,
    other_disks,
    schedule_spec,
    source_names,
)


@pytest.mark.parametrize(
    ("kind", "at", "day", "spec", "words"),
    [
        (HOURLY, "03:00", 0, "hourly", "every hour, on the hour"),
        (DAILY, "21:30", 0, "daily 21:30", "every day at 21:30"),
        (WEEKLY, "03:00", 6, "weekly sun 03:00", "every Sunday at 03:00"),
    ],
)
def test_a_plain_choice_is_a_valid_schedule(kind, at, day, spec, words):
    assert schedule_spec(kind, at, day) == spec
    assert parse_schedule(spec).describe() == words


@pytest.mark.parametrize(
    ("files", "taken", "names"),
    [
        (["My Notes.db"], [], [("My-Notes", "My Notes")]),
        (["crm.sqlite"], [], [("crm", "crm")]),
        (["notes.db", "notes.sqlite"], ["notes"], [("notes-2", "notes"), ("notes-3", "notes")]),
        (["Été 2024.db"], [], [("t-2024", "Été 2024")]),
    ],
)
def test_each_database_gets_a_safe_unique_name_and_keeps_its_own(files, taken, names):
    assert source_names([Path("/data") / f for f in files], taken) == names


def test_same_disk_and_other_disks(tmp_path: Path):
    db = tmp_path / "notes.db"
    db.write_bytes(b"")
    assert on_same_disk(tmp_path / "not yet" / "snapshots", [db]) == [db]
    shm = Path("/dev/shm")
    if shm.is_dir() and on_same_disk(shm, [db]) == []:
        assert other_disks([db], [tmp_path, shm], home=tmp_path) == [shm]
    assert other_disks([db], [tmp_path], home=tmp_path) == []
