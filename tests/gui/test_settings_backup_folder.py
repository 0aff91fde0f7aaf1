"""Settings → Databases → "Backups go to": the folder, its free space, the same-disk
warning, and changing it, with the snapshots moved for real (or kept where they are)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from lifeboat.gui.app import TrayApp
from lifeboat.gui.settings_dialog import SettingsDialog
from lifeboat.service import Service
from tests.gui.conftest import click_box_button, gone, message_boxes, wait_for_box
from tests.helpers.databases import change_db, make_db


def open_settings(tray_app: TrayApp) -> SettingsDialog:
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    assert isinstance(dialog, SettingsDialog)
    return dialog


def save(qtbot, dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)


def shown_place(qtbot, dialog: SettingsDialog) -> None:
    row = dialog.form.folder
    qtbot.waitUntil(lambda: "free there" in row.details.text(), timeout=10_000)


def test_the_row_shows_the_folder_its_free_space_and_the_same_disk_warning(
    qtbot, tray_app: TrayApp, service: Service
):
    dialog = open_settings(tray_app)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    assert row.folder.text() == str(service.planned_snapshot_folder("notes", None))
    assert row.details.text().endswith("free there.")
    # The test's databases and Lifeboat's own folder share a disk: said, with what to do.
    assert row.warning.isVisibleTo(dialog)
    assert "same disk as the database" in row.warning.text()
    assert "another disk" in row.warning.text()


def test_moving_the_folder_moves_the_snapshots(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path
):
    first = service.backup("notes")
    change_db(service.source("notes").path)  # an unchanged database is not stored again
    second = service.backup("notes")
    old_folder = first.folder
    dialog = open_settings(tray_app)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    elsewhere = tmp_path / "usb drive"
    elsewhere.mkdir()
    row.choose(elsewhere)
    box = wait_for_box(qtbot, "Move the 2 existing snapshots of notes there too?")
    assert [b.text() for b in box.buttons()].count("&Keep them where they are") == 1
    click_box_button(box, "&Move them")
    qtbot.waitUntil(lambda: row.result.text().startswith("Moved 2 snapshots to "), timeout=30_000)
    assert row.result.text() == f"Moved 2 snapshots to {elsewhere / 'notes'}."
    assert not row.progress.isVisible() and row.change.isEnabled()
    assert row.folder.text() == str(elsewhere / "notes")
    # Saved at once, the snapshots in the new folder, whole and listed there.
    assert service.source("notes").dest == elsewhere
    assert {s.folder for s in service.snapshots("notes")} == {elsewhere / "notes"}
    assert not old_folder.exists()
    results = service.verify(source="notes")
    assert sorted(r.record.id for r in results if r.ok) == sorted([first.id, second.id])
    # Saving the dialog afterwards keeps the folder the move saved.
    dialog.form.schedule.kind.setCurrentIndex(4)  # only when I ask
    save(qtbot, dialog)
    assert service.source("notes").dest == elsewhere
    assert service.source("notes").schedule == "manual"


def test_keeping_them_where_they_are_changes_the_folder_with_save(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path
):
    record = service.backup("crm")
    dialog = open_settings(tray_app)
    dialog.source_list.setCurrentRow(1)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    row.choose(elsewhere)
    click_box_button(
        wait_for_box(qtbot, "Move the 1 existing snapshot of crm"), "&Keep them where they are"
    )
    qtbot.waitUntil(lambda: "changed when you click Save" in row.details.text(), timeout=10_000)
    assert "the 1 snapshot it has stay in the old folder" in row.details.text()
    assert row.folder.text() == str(elsewhere / "crm")
    assert service.source("crm").dest is None  # not before Save
    save(qtbot, dialog)
    assert service.source("crm").dest == elsewhere
    assert service.snapshot(record.id).folder == record.folder and record.path.exists()


def test_cancel_changes_nothing(qtbot, tray_app: TrayApp, service: Service, tmp_path: Path):
    service.backup("notes")
    dialog = open_settings(tray_app)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    before = row.folder.text()
    row.choose(tmp_path)
    box = wait_for_box(qtbot, "Move the 1 existing snapshot")
    box.reject()
    qtbot.waitUntil(lambda: not message_boxes(), timeout=5_000)
    assert row.folder.text() == before
    assert dialog.form.current().dest is None
    save(qtbot, dialog)
    assert service.source("notes").dest is None


def test_a_new_database_gets_its_folder_without_a_question(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "Shop Orders.db")
    dialog = open_settings(tray_app)
    dialog.add_database(db)
    qtbot.waitUntil(lambda: len(dialog.entries) == 3, timeout=10_000)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    target = tmp_path / "backups"
    row.choose(target)
    assert not message_boxes()
    qtbot.waitUntil(lambda: row.folder.text() == str(target / "Shop-Orders"), timeout=10_000)
    save(qtbot, dialog)
    source = service.source("Shop-Orders")
    assert (source.dest, source.display_name, source.title) == (
        target,
        "Shop Orders",
        "Shop Orders",
    )


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a second file system")
def test_no_warning_for_a_folder_on_another_disk(qtbot, tray_app: TrayApp, tmp_path: Path):
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the test folder's disk here")
    dialog = open_settings(tray_app)
    row = dialog.form.folder
    shown_place(qtbot, dialog)
    dialog.add_database(make_db(tmp_path / "other.db"))
    qtbot.waitUntil(lambda: len(dialog.entries) == 3, timeout=10_000)
    shown_place(qtbot, dialog)
    assert row.warning.isVisibleTo(dialog)
    row.choose(Path("/dev/shm") / f"lifeboat-test-{os.getpid()}")
    qtbot.waitUntil(lambda: row.folder.text().startswith("/dev/shm/"), timeout=10_000)
    qtbot.waitUntil(lambda: not row.warning.isVisibleTo(dialog), timeout=10_000)
