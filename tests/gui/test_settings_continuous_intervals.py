"""Settings' intervals of continuous protection (gui/continuous_intervals.py): how often a
rollback-journal database is captured (`continuous_every`) and how often the history
goes to the remote (`continuous_upload_every`), each shown where it applies, checked as
typed by the rule `lifeboat source set` uses, and saved as that command saves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.gui.continuous_intervals import interval_problem, interval_spec
from lifeboat.service import Service
from tests.gui.conftest import gone
from tests.gui.test_remote_settings import add_remote
from tests.gui.test_settings_dialog import open_settings, save_button
from tests.helpers.databases import make_db


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


def _type(field, text: str) -> None:
    field.setText(text)
    field.textEdited.emit(text)


def test_a_journal_database_with_a_remote_gets_both_intervals_and_saves_them(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    add_remote(service)
    journal = make_db(tmp_path / "old.db", rows=20, wal=False)
    service.add_source(journal, name="old", schedule="manual", remote="offsite")
    dialog = open_settings(qtbot, make_tray())
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    fields = box.intervals
    assert fields.every.isVisibleTo(dialog) and fields.upload_every.isVisibleTo(dialog)
    assert fields.upload_label.text() == "Send the history to offsite every:"
    assert (fields.every.text(), fields.upload_every.text()) == ("1 minute", "10 seconds")
    assert not fields.isEnabled(), "they apply once it is on"
    box.switch.setChecked(True)
    _type(fields.every, "2 minutes")
    _type(fields.upload_every, "30s")
    assert not fields.error.isVisibleTo(dialog)
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    old = service.source("old")
    assert (old.continuous, old.continuous_every, old.continuous_upload_every) == (
        True,
        "2m",
        "30s",
    )


def test_an_interval_not_understood_is_told_in_words_and_nothing_is_saved(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    journal = make_db(tmp_path / "old.db", rows=20, wal=False)
    service.add_source(journal, name="old", schedule="manual")
    dialog = open_settings(qtbot, make_tray())
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    fields = box.intervals
    assert not fields.upload_every.isVisibleTo(dialog), "no remote: nothing is sent"
    box.switch.setChecked(True)
    _type(fields.every, "2 days")
    assert fields.error.isVisibleTo(dialog)
    assert fields.error.text() == ("“2 days” is too long: at most 1 day")
    save_button(dialog).click()
    assert not gone(dialog), "not saved"
    assert not service.source("old").continuous
    _type(fields.every, "")
    assert not fields.error.isVisibleTo(dialog), "empty: the default"
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert service.source("old").continuous_every == "1m"


def test_a_wal_database_without_a_remote_shows_no_interval(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    wal = make_db(tmp_path / "notes.db", rows=20)
    service.add_source(wal, name="notes", schedule="manual")
    dialog = open_settings(qtbot, make_tray())
    dialog.source_list.setCurrentRow(0)
    assert not dialog.form.continuous.intervals.isVisibleTo(dialog)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", None),
        ("1m", None),
        ("30 seconds", None),
        ("1 day", None),
        ("0s", "“0s” is too short: at least 1 second"),
        ("2d", "“2d” is too long: at most 1 day"),
        ("25 hours", "“25 hours” is too long: at most 1 day"),
        ("soon", "“soon”: write a length of time, like 30 seconds"),
    ],
)
def test_interval_problems_in_the_dialogs_words(typed: str, problem: str | None):
    assert interval_problem(typed) == problem


def test_intervals_are_saved_as_the_command_saves_them():
    assert interval_spec("2 minutes", "1m") == "2m"
    assert interval_spec("  ", "10s") == "10s"
