"""Settings, driven like a user: add a database with the file picker, edit schedules and
retention with the plain controls, see problems next to their fields, save once."""

from __future__ import annotations

from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QTime
from PySide6.QtWidgets import QDialogButtonBox

from lifeboat.gui.app import TrayApp
from lifeboat.gui.autostart import LoginItem
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.gui.settings_dialog import SettingsDialog
from lifeboat.service import Service
from tests.gui.conftest import click_box_button, gone, menu_text, wait_for_box
from tests.helpers.databases import make_db


def save_button(dialog: SettingsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Save)


def open_settings(qtbot, tray_app: TrayApp) -> SettingsDialog:
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    assert isinstance(dialog, SettingsDialog)
    return dialog


def test_add_a_database_with_the_picker_and_see_it_backed_up(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "My Notes.sqlite", rows=300)
    tray_app: TrayApp = make_tray()
    tray_app.show_settings(add_database=True)  # the tray's entry opens the first run now
    dialog = tray_app._dialogs["settings"]
    picker = dialog.picker
    qtbot.waitUntil(lambda: picker.isVisible(), timeout=30_000)
    picker.selectFile(str(db))
    picker.accept()
    qtbot.waitUntil(lambda: len(dialog.entries) == 1, timeout=10_000)
    assert dialog.source_list.item(0).text() == "My Notes  (new)"  # named as the first run does
    form = dialog.form
    assert form.path.text() == str(db)
    assert form.name.text() == "My Notes"
    assert form.safe_name.text() == "Its snapshot files are named “My-Notes”."
    form.name.setText("notes")
    assert form.safe_name.text() == "Its snapshot files are named “notes”."
    form.schedule.kind.setCurrentIndex(2)  # every week
    for index, button in enumerate(form.schedule.days):
        if button.isChecked() != (index in (0, 3)):  # Monday and Thursday
            button.click()
    form.schedule.at.setTime(QTime(4, 30))
    assert form.schedule.spec() == "weekly mon,thu 04:30"
    assert (
        "Next: Mon" in form.schedule.next_label.text()
        or "Next: Thu" in form.schedule.next_label.text()
    )
    form.check.setCurrentIndex(1)
    assert form.continuous.on, "a WAL database added in the tray: every change, by default"
    form.continuous.switch.setChecked(False)  # here: the scheduled backup it then takes
    dialog.tabs.setCurrentIndex(1)
    dialog.retention.counts["last"].setValue(5)
    dialog.retention.counts["monthly"].setValue(0)
    assert dialog.retention.preview.text() == "no snapshots yet"
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    source = service.source("notes")
    assert (source.path, source.schedule, source.check, source.keep) == (
        db,
        "weekly mon,thu 04:30",
        "full",
        "last=5,daily=7,weekly=4",
    )
    qtbot.waitUntil(lambda: len(service.snapshots("notes")) == 1, timeout=20_000)
    qtbot.waitUntil(
        lambda: menu_text(tray_app, "source:notes") == "notes — backed up just now", timeout=10_000
    )


def test_the_picker_rejects_a_file_that_is_not_sqlite(qtbot, tray_app: TrayApp, tmp_path: Path):
    text = tmp_path / "todo.txt"
    text.write_text("buy milk\n")
    dialog = open_settings(qtbot, tray_app)
    dialog.add_database(text)
    box = wait_for_box(qtbot, "is not a SQLite database")
    assert "Choose an unencrypted SQLite database file." in box.informativeText()
    assert "Traceback" not in box.text()
    box.accept()
    assert len(dialog.entries) == 2


def test_adding_the_same_database_twice_is_refused(
    qtbot, tray_app: TrayApp, two_sources: tuple[Path, Path]
):
    dialog = open_settings(qtbot, tray_app)
    dialog.add_database(two_sources[0])
    box = wait_for_box(qtbot, "is already backed up as “notes”")
    box.accept()
    assert len(dialog.entries) == 2


def test_invalid_input_is_shown_by_its_field_and_nothing_is_saved(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path
):
    before = service.workspace.paths.config_file.read_bytes()
    dialog = open_settings(qtbot, tray_app)
    form = dialog.form
    form.schedule.kind.setCurrentIndex(1)  # daily: valid
    form.stale_custom.setChecked(True)
    form.stale_after.setText("two days")
    error = form.errors["stale_after"]
    assert error.isVisible() and "“two days” is not a length of time" in error.text()
    assert "2 days, 36 hours or 1 week" in error.text()
    other = make_db(tmp_path / "other.db")
    dialog.add_database(other)
    qtbot.waitUntil(lambda: len(dialog.entries) == 3, timeout=10_000)
    dialog.form.name.setText("crm")  # taken
    dialog.tabs.setCurrentIndex(1)
    dialog.retention.within_on.setChecked(True)
    dialog.retention.within.setText("forever")
    assert dialog.retention.error_label.isVisible()
    assert dialog.retention.error_label.text() == (
        "“forever” is not a span of time; write it like 30 days, 8 weeks, 6 months or 1 year"
    )
    save_button(dialog).click()
    # Refused, at once or after a save in the background: the buttons are usable again
    # and the first problem shows (a save that went through would close the dialog).
    qtbot.waitUntil(
        lambda: dialog.buttons.isEnabled() and form.errors["stale_after"].isVisible(),
        timeout=30_000,
    )
    assert dialog.isVisible()
    assert dialog.current == 0 and dialog.tabs.currentIndex() == 0  # the first problem
    assert form.errors["stale_after"].isVisible()
    dialog.source_list.setCurrentRow(2)
    assert form.errors["name"].isVisible()
    assert form.errors["name"].text() == "another database is already called “crm”"
    assert dialog.retention.error_label.isVisibleTo(dialog.retention)  # on its tab
    assert service.workspace.paths.config_file.read_bytes() == before
    form.name.setText("other")
    dialog.retention.within.setText("30 days")
    dialog.source_list.setCurrentRow(0)
    form.stale_after.setText("2 days")
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert service.source("notes").stale_after == "2d"
    assert service.source("other").display_name is None  # "other" is its safe name too
    assert service.source("other").keep.endswith("within=30d")


def test_retention_preview_comes_from_the_retention_function(
    qtbot, tray_app: TrayApp, service: Service
):
    for _ in range(5):
        service.backup("crm", full=True)  # whole snapshots: no base kept for a differential
    dialog = open_settings(qtbot, tray_app)
    dialog.tabs.setCurrentIndex(1)
    dialog.retention_source.setCurrentIndex(1)
    retention = dialog.retention
    for bucket, spin in retention.counts.items():
        spin.setValue(2 if bucket == "last" else 0)
    plan = service.retention_preview("crm", "last=2")
    assert (len(plan.kept), len(plan.forgotten)) == (2, 3)
    qtbot.waitUntil(
        lambda: retention.preview.text().startswith("keeps 2, deletes 3, frees "), timeout=30_000
    )
    retention.counts["last"].setValue(10)
    qtbot.waitUntil(
        lambda: retention.preview.text() == "keeps all 5 snapshots, deletes none", timeout=30_000
    )


def test_removing_a_source_keeps_its_snapshots(qtbot, tray_app: TrayApp, service: Service):
    record = service.backup("crm")
    dialog = open_settings(qtbot, tray_app)
    dialog.source_list.setCurrentRow(1)
    dialog.remove_button.click()
    click_box_button(wait_for_box(qtbot, "Stop backing up crm?"), "Remove")
    assert [e.draft.name for e in dialog.entries] == ["notes"]
    assert [s.name for s in service.sources()] == ["notes", "crm"]  # not yet: Save does it
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert [s.name for s in service.sources()] == ["notes"]
    assert record.path.exists()
    assert service.snapshot(record.id).source == "crm"


def test_general_tab_start_at_login_and_notifications(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    entry = tmp_path / "xdg" / "autostart" / "lifeboat.desktop"
    dialog = open_settings(qtbot, tray_app)
    dialog.tabs.setCurrentIndex(3)
    assert not dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(True)
    dialog.notify_stale.setChecked(False)
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert entry.exists()
    assert "-m lifeboat tray --minimized" in entry.read_text()
    assert LoginItem().is_enabled()
    assert TrayPreferences.load(service.workspace.paths) == TrayPreferences(
        notify_failures=True, notify_stale=False
    )
    assert tray_app.preferences.notify_stale is False
    dialog = open_settings(qtbot, tray_app)
    assert dialog.start_at_login.isChecked() and not dialog.notify_stale.isChecked()
    dialog.start_at_login.setChecked(False)
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert not entry.exists()


def test_a_dialog_reopened_as_it_closes_is_a_live_one(qtbot, tray_app: TrayApp):
    first = open_settings(qtbot, tray_app)
    first.close()  # Qt deletes it when the event loop next runs
    second = open_settings(qtbot, tray_app)
    assert second is not first
    qtbot.waitUntil(lambda: not shiboken6.isValid(first), timeout=5_000)
    assert shiboken6.isValid(second) and second.isVisible()
    assert tray_app._dialogs["settings"] is second


def test_schedule_editor_plain_controls_make_specs(qtbot, tray_app: TrayApp):
    editor = open_settings(qtbot, tray_app).form.schedule
    editor.kind.setCurrentIndex(0)
    editor.every.setValue(15)
    editor.unit.setCurrentIndex(0)
    assert editor.spec() == "every 15m"
    assert editor.next_label.text().startswith("Every 15 minutes.\nNext: ")
    editor.kind.setCurrentIndex(1)
    editor.at.setTime(QTime(3, 0))
    assert editor.spec() == "daily 03:00"
    editor.kind.setCurrentIndex(3)
    editor.day_of_month.setValue(31)
    assert editor.spec() == "monthly 31 03:00"
    assert "the last day in shorter months" in editor.next_label.text()
    editor.kind.setCurrentIndex(4)
    assert editor.spec() == "manual"
    assert editor.next_label.text() == "Backed up only when you click Back up now."
    editor.kind.setCurrentIndex(5)
    editor.custom.setText('cron "0 3 * * 1-5"')
    assert editor.error() is None
    editor.custom.setText("whenever")
    assert "unknown schedule" in editor.error_label.text()
    editor.set_spec("hourly")  # shown with the plain controls, kept as written
    assert editor.kind.currentData() == "interval" and editor.every.value() == 1
    assert editor.spec() == "hourly"


def test_the_drill_schedule_is_edited_in_the_database_form(
    qtbot, tray_app: TrayApp, service: Service
):
    dialog = open_settings(qtbot, tray_app)
    name = dialog.entries[dialog.current].draft.name
    drills = dialog.form.drills
    assert drills.spec() == service.source(name).drill == "weekly sun 04:00"
    editor = drills.editor
    editor.kind.setCurrentIndex(editor.kind.findData("custom"))
    editor.custom.setText("every blue moon")
    save_button(dialog).click()
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled() and drills.error() is not None)
    assert dialog.isVisible() and service.source(name).drill == "weekly sun 04:00"
    editor.kind.setCurrentIndex(editor.kind.findData("daily"))
    save_button(dialog).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert service.source(name).drill == "daily 04:00"
