"""Settings' "Protect every change (continuous)": on and off for a WAL database with
its history keep, on with a note on what it gets for a rollback-journal one, and
a keep that is not understood told in the dialog's words with nothing saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.gui.app import TrayApp
from lifeboat.gui.continuous_box import (
    JOURNAL_NOTE,
    UNREADABLE_REASON,
    keep_problem,
    switch_refusal,
)
from lifeboat.gui.first_run import FirstRunChoices, set_up
from lifeboat.service import Service
from tests.gui.conftest import gone
from tests.gui.test_settings_dialog import open_settings, save_button
from tests.helpers.databases import make_db


def test_the_switch_turns_continuous_protection_on_and_off(
    qtbot, tray_app: TrayApp, service: Service
):
    dialog = open_settings(qtbot, tray_app)
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    assert box.switch.isEnabled() and not box.on and not box.why_not.isVisibleTo(dialog)
    assert not box.keep.isEnabled(), "the keep applies once it is on"
    box.switch.setChecked(True)
    box.keep.setText("12h all, 3d hourly")
    box.keep.textEdited.emit(box.keep.text())
    assert box.meaning.text() == (
        "Restorable: every change of the last 12 hours, then one an hour back to 3 days."
    )
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    notes = service.source("notes")
    assert (notes.continuous, notes.continuous_keep) == (True, "12h all, 3d hourly")
    assert not service.source("crm").continuous
    dialog = open_settings(qtbot, tray_app)
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    assert box.on and box.keep.text() == "12h all, 3d hourly"
    box.switch.setChecked(False)
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert not service.source("notes").continuous
    assert service.source("notes").continuous_keep == "12h all, 3d hourly"


def test_a_keep_not_understood_is_told_and_nothing_is_saved(
    qtbot, tray_app: TrayApp, service: Service
):
    dialog = open_settings(qtbot, tray_app)
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    box.switch.setChecked(True)
    box.keep.setText("forever")
    box.keep.textEdited.emit("forever")
    assert box.error.isVisibleTo(dialog)
    assert box.error.text().startswith("'forever': write an age and what to keep")
    assert "history spec" not in box.error.text()
    save_button(dialog).click()
    assert not gone(dialog), "not saved"
    assert not service.source("notes").continuous
    box.keep.setText("")
    box.keep.textEdited.emit("")
    assert not box.error.isVisibleTo(dialog), "empty: the default"


def test_a_rollback_journal_database_is_switched_on_with_a_note_on_what_it_gets(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    journal = make_db(tmp_path / "old.db", rows=20, wal=False)
    service.add_source(journal, name="old", schedule="manual")
    dialog = open_settings(qtbot, make_tray())
    dialog.source_list.setCurrentRow(0)
    box = dialog.form.continuous
    assert box.switch.isEnabled() and not box.on
    assert box.why_not.isVisibleTo(dialog) and box.why_not.text() == JOURNAL_NOTE
    box.switch.setChecked(True)
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert service.source("old").continuous


@pytest.mark.parametrize(
    ("wal_mode", "encrypted", "refusal"),
    [
        (True, False, None),
        (False, False, None),
        (False, True, None),  # its history is sealed like its snapshots
        (True, True, None),
        (None, False, UNREADABLE_REASON),
    ],
)
def test_why_the_switch_is_refused(wal_mode, encrypted, refusal):
    assert switch_refusal(wal_mode, encrypted) == refusal


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("24h all, 7d hourly, 30d daily", None),
        ("2d all", None),
        ("", "say how long changes stay restorable, like “24h all, 7d hourly, 30d daily”"),
        ("7d hourly, 24h all", "'24h all': list the ages from youngest to oldest"),
        ("24h sometimes", "'sometimes': keep all, minutely, hourly, daily, weekly or monthly"),
    ],
)
def test_keep_problems_in_the_dialogs_words(typed, problem):
    assert keep_problem(typed) == problem


def test_the_first_run_protects_wal_databases_continuously(service: Service, tmp_path: Path):
    wal = make_db(tmp_path / "notes.db", rows=10)
    journal = make_db(tmp_path / "old.db", rows=10, wal=False)
    added = set_up(service, FirstRunChoices([wal, journal], None, "daily 03:00", None))
    assert {name: service.source(name).continuous for name in added} == {
        "notes": True,
        "old": False,
    }
