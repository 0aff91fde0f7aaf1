"""History: snapshots sortable and filterable, with verify, pin/unpin, delete and
"Restore this", and the job history with its errors."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from lifeboat.gui.app import TrayApp
from lifeboat.gui.history_dialog import HistoryDialog
from lifeboat.gui.history_models import ID_ROLE
from lifeboat.gui.restore_wizard import CONFIRM, RESULT
from lifeboat.service import Service
from tests.gui.conftest import click_box_button, wait_for_box
from tests.helpers.databases import change_db, content_digest, make_db


def open_history(qtbot, tray_app: TrayApp, source: str | None = None) -> HistoryDialog:
    tray_app.show_history(source)
    dialog = tray_app._dialogs["history"]
    assert isinstance(dialog, HistoryDialog)
    qtbot.waitUntil(lambda: dialog.loaded > 0, timeout=10_000)
    return dialog


def shown_ids(dialog: HistoryDialog) -> list[str]:
    view = dialog.snapshot_view
    return [view.index(row, 0).data(ID_ROLE) for row in range(view.rowCount())]


def test_snapshots_sort_and_filter(
    qtbot, tray_app: TrayApp, service: Service, tmp_path: Path, two_sources: tuple[Path, Path]
):
    small = service.backup("notes")
    make_db(two_sources[1], rows=3000, seed=5)  # crm grows
    big = service.backup("crm")
    change_db(two_sources[0])  # else nothing new is stored (the database is unchanged)
    newest = service.backup("notes")
    dialog = open_history(qtbot, tray_app)
    assert shown_ids(dialog) == [newest.id, big.id, small.id]  # newest first
    assert dialog.snapshot_table.model().headerData(0, Qt.Orientation.Horizontal) == "Taken"
    dialog.snapshot_table.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # by size
    assert shown_ids(dialog)[0] == big.id
    dialog.show_source("notes")
    assert sorted(shown_ids(dialog)) == sorted([small.id, newest.id])
    dialog.show_source(None)
    assert len(shown_ids(dialog)) == 3
    row = [dialog.snapshot_view.index(0, c).data() for c in range(10)]
    assert row[1] == "crm" and row[2] == "whole" and row[5].endswith("×") and row[6] == "good"
    assert row[7] == "–", "crm is not uploaded to a remote"


def test_verify_pin_unpin_and_delete(qtbot, tray_app: TrayApp, service: Service):
    record = service.backup("notes")
    dialog = open_history(qtbot, tray_app)
    assert dialog.select_snapshot(record.id)
    dialog.verify_button.click()
    qtbot.waitUntil(lambda: "is intact" in dialog.message.text(), timeout=20_000)
    qtbot.waitUntil(lambda: service.snapshot(record.id).verified_at is not None, timeout=30_000)
    qtbot.waitUntil(lambda: "verified" in dialog.snapshot_view.index(0, 6).data(), timeout=10_000)
    dialog.select_snapshot(record.id)
    dialog.pin_button.click()
    qtbot.waitUntil(lambda: service.snapshot(record.id).manifest.protected, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.pin_button.text() == "Un&pin", timeout=10_000)
    assert not dialog.delete_button.isEnabled()
    dialog.pin_button.click()
    qtbot.waitUntil(lambda: not service.snapshot(record.id).manifest.protected, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.delete_button.isEnabled(), timeout=10_000)
    dialog.delete_button.click()
    click_box_button(wait_for_box(qtbot, "Delete the snapshot of notes"), "Delete")
    qtbot.waitUntil(lambda: service.snapshots("notes") == [], timeout=10_000)
    assert not record.path.exists()
    qtbot.waitUntil(lambda: shown_ids(dialog) == [], timeout=10_000)


def test_verify_finds_a_damaged_snapshot(qtbot, tray_app: TrayApp, service: Service):
    record = service.backup("notes")
    data = bytearray(record.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    record.path.write_bytes(bytes(data))
    dialog = open_history(qtbot, tray_app)
    dialog.select_snapshot(record.id)
    dialog.verify_button.click()
    qtbot.waitUntil(lambda: "is damaged" in dialog.message.text(), timeout=20_000)
    assert service.snapshot(record.id).status == "corrupt"
    qtbot.waitUntil(lambda: dialog.snapshot_view.index(0, 6).data() == "damaged", timeout=10_000)


def test_jobs_tab_shows_failures_with_their_errors(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    two_sources[1].unlink()
    tray_app.backup_now("crm")
    # The failure and its queued retry are two catalog rows: open once both are there.
    qtbot.waitUntil(
        lambda: {"failed", "queued"} <= {j.status for j in service.workspace.catalog.jobs()},
        timeout=20_000,
    )
    dialog = open_history(qtbot, tray_app, "crm")
    qtbot.waitUntil(lambda: dialog.job_view.rowCount() >= 1, timeout=10_000)
    dialog.tabs.setCurrentIndex(1)
    rows = [
        [dialog.job_view.index(r, c).data() for c in range(8)]
        for r in range(dialog.job_view.rowCount())
    ]
    assert rows[0][2:6] == ["backup", "crm", "retry (try 2)", "queued"]  # a retry waits
    assert rows[1][2:6] == ["backup", "crm", "manual", "failed"]
    assert "no such file" in rows[1][7]
    dialog.job_table.selectRow(1)
    assert "Error: " in dialog.job_detail.toPlainText()
    assert "no such file" in dialog.job_detail.toPlainText()


def test_restore_this_is_one_click_from_history(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    notes = two_sources[0]
    record = service.backup("notes")
    wanted = content_digest(notes)
    make_db(notes, rows=50, seed=9)  # more rows: the database changed since
    changed = content_digest(notes)
    dialog = open_history(qtbot, tray_app)
    dialog.select_snapshot(record.id)
    dialog.restore_button.click()
    wizard = tray_app._dialogs["restore"]
    assert wizard.currentId() == CONFIRM
    assert (
        "A safety snapshot of the current file is taken first" in wizard.currentPage().text.text()
    )
    wizard.button(QWizard.WizardButton.CommitButton).click()  # the one click
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    assert wizard.outcome is not None
    assert content_digest(notes) == wanted
    safety = service.snapshot(wizard.outcome.safety_snapshot)
    assert safety.manifest.reason == "pre-restore" and safety.manifest.protected
    assert changed != wanted


def test_files_needing_attention_are_shown_and_recovered(
    qtbot, tray_app: TrayApp, service: Service
):
    record = service.backup("notes")
    service.backup("notes")  # the folder is scanned before each backup
    record.manifest_path.unlink()
    service.workspace.catalog.remove_snapshot(record.id)  # and the catalog lost it too
    service.tidy_sources()
    dialog = open_history(qtbot, tray_app)
    assert dialog.attention_box.isVisibleTo(dialog)
    assert record.path.name in dialog.attention.text()
    assert "Nothing was deleted" in dialog.attention.text()
    dialog.recover_button.click()
    qtbot.waitUntil(lambda: "Recovered 1 snapshot" in dialog.message.text(), timeout=20_000)
    qtbot.waitUntil(lambda: not dialog.attention_box.isVisibleTo(dialog), timeout=10_000)
    assert record.id in shown_ids(dialog)
    assert record.path.is_file() and record.manifest_path.is_file()


def test_deleting_a_base_names_what_depends_on_it_and_says_what_happened(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    base = service.backup("notes")
    make_db(two_sources[0], rows=10, seed=2)
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff" and diff.manifest.base == base.id
    service.set_protected(diff.id, True, "pinned")
    dialog = open_history(qtbot, tray_app)
    assert dialog.select_snapshot(base.id)
    dialog.delete_button.click()
    box = wait_for_box(qtbot, "Delete the snapshot of notes")
    detail = box.informativeText()
    assert "1 later snapshot (1 differential, 1 of them pinned) is built on this one" in detail
    assert "cannot be restored without it" in detail
    click_box_button(box, "Delete")
    qtbot.waitUntil(lambda: "deleted here" in dialog.message.text(), timeout=10_000)
    assert dialog.message.text() == (
        f"Snapshot {base.id} deleted here. 1 later snapshot built on it can no longer be restored."
    )
