"""The restore wizard end to end: the restores really happen, on real databases."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWizard

from lifeboat.gui.app import TrayApp
from lifeboat.gui.restore_wizard import (
    CONFIRM,
    PROGRESS,
    RESULT,
    SNAPSHOT,
    SOURCE,
    TARGET,
    RestoreWizard,
)
from lifeboat.service import Service
from tests.helpers.databases import change_db, content_digest, make_db


def open_wizard(tray_app: TrayApp, source: str | None = None) -> RestoreWizard:
    tray_app.show_restore(source)
    wizard = tray_app._dialogs["restore"]
    assert isinstance(wizard, RestoreWizard)
    return wizard


def next_button(wizard: RestoreWizard):
    if wizard.currentPage().isCommitPage():
        return wizard.button(QWizard.WizardButton.CommitButton)
    return wizard.button(QWizard.WizardButton.NextButton)


def test_in_place_restore_from_the_menu(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    _, crm = two_sources
    service.backup("notes")
    record = service.backup("crm")
    wanted = content_digest(crm)
    make_db(crm, rows=100, seed=7)
    changed = content_digest(crm)
    tray_app.tray.action("restore").trigger()
    wizard = tray_app._dialogs["restore"]
    assert wizard.currentId() == SOURCE
    sources = wizard.page(SOURCE).choices
    assert sources.item(0).text().startswith("notes  —  1 snapshot, newest just now")
    sources.setCurrentRow(1)
    next_button(wizard).click()
    assert wizard.currentId() == SNAPSHOT
    assert wizard.page(SNAPSHOT).chosen().id == record.id  # the newest good one
    next_button(wizard).click()
    target = wizard.page(TARGET)
    assert target.in_place.isChecked()
    assert str(crm) in target.in_place.text()
    next_button(wizard).click()
    assert wizard.currentId() == CONFIRM
    summary = wizard.currentPage().text.text()
    assert f"This replaces <b>{crm}</b>" in summary
    assert "A safety snapshot of the current file is taken first" in summary
    preview = wizard.currentPage().preview
    qtbot.waitUntil(lambda: preview.text().startswith("Restoring "), timeout=15_000)
    assert "in items" in preview.text()  # what the restore changes, computed off-thread
    assert next_button(wizard).text() == "Restore"
    next_button(wizard).click()
    assert wizard.currentId() == PROGRESS
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    assert wizard.currentPage().title() == "Restored"
    assert content_digest(crm) == wanted
    safety = service.snapshot(wizard.outcome.safety_snapshot)
    assert safety.manifest.reason == "pre-restore"
    assert "safety snapshot " + safety.id in wizard.currentPage().text.text()
    service.restore(safety.id)  # and the safety snapshot brings the change back
    assert content_digest(crm) == changed
    wizard.button(QWizard.WizardButton.FinishButton).click()


def test_restore_to_a_new_file_and_open_its_folder(
    qtbot,
    tray_app: TrayApp,
    service: Service,
    tmp_path: Path,
    two_sources: tuple[Path, Path],
    opened_urls,
):
    notes = two_sources[0]
    service.backup("notes")
    before = content_digest(notes)
    wizard = open_wizard(tray_app, "notes")
    assert wizard.currentId() == SNAPSHOT  # the database was given
    next_button(wizard).click()
    target = wizard.page(TARGET)
    target.to_file.setChecked(True)
    assert target.path.text().startswith(str(notes.parent / "notes-restored-"))
    existing = make_db(tmp_path / "taken.db")
    target.path.setText(str(existing))
    next_button(wizard).click()
    assert wizard.currentId() == TARGET
    assert target.error.isVisible() and "already exists" in target.error.text()
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "nowhere.db")
    target.path.setText(str(dangling))
    next_button(wizard).click()
    assert wizard.currentId() == TARGET
    assert target.error.isVisible() and "already exists" in target.error.text()
    out = tmp_path / "out" / "copy.db"
    out.parent.mkdir()
    target.path.setText(str(out))
    next_button(wizard).click()
    assert "It is written as a new file" in wizard.currentPage().text.text()
    next_button(wizard).click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    assert content_digest(out) == before == content_digest(notes)
    result = wizard.currentPage()
    assert result.open_button.isVisible()
    result.open_button.click()
    assert opened_urls.paths == [out.parent]


def test_the_newest_good_snapshot_is_preselected(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    good = service.backup("notes")
    change_db(two_sources[0])  # else the second backup stores nothing (unchanged)
    bad = service.backup("notes")
    service.workspace.catalog.set_status(bad.id, "corrupt", "checksum mismatch")
    wizard = open_wizard(tray_app, "notes")
    page = wizard.page(SNAPSHOT)
    assert page.chosen().id == good.id
    assert page.table.topLevelItem(0).text(3) == "damaged"
    assert not page.table.topLevelItem(0).flags() & page.table.topLevelItem(0).flags().ItemIsEnabled


def test_cancel_leaves_the_database_as_it_was(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    notes = two_sources[0]
    record = service.backup("notes")
    make_db(notes, rows=100, seed=3)
    changed = content_digest(notes)
    tray_app.show_restore_snapshot(record.id)
    wizard = tray_app._dialogs["restore"]
    assert wizard.currentId() == CONFIRM
    next_button(wizard).click()
    wizard.progress_page.cancel.click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    assert wizard.currentPage().title() == "Cancelled"
    assert "Nothing was changed" in wizard.currentPage().text.text()
    assert content_digest(notes) == changed
    assert [s.id for s in service.snapshots("notes")] == [record.id]  # no safety copy left


def test_a_failing_restore_says_why_without_a_traceback(qtbot, tray_app: TrayApp, service: Service):
    record = service.backup("notes")
    record.path.write_bytes(b"not zstd at all")
    tray_app.show_restore_snapshot(record.id)
    wizard = tray_app._dialogs["restore"]
    next_button(wizard).click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    page = wizard.currentPage()
    assert page.title() == "The restore did not happen"
    assert "Traceback" not in page.text.text()
    assert "The database was not changed." in page.text.text()
    assert not page.open_button.isVisible()


def test_restoring_what_the_database_already_holds_says_nothing_was_written(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    notes, _ = two_sources
    record = service.backup("notes")
    before = content_digest(notes)
    wizard = open_wizard(tray_app, "notes")
    qtbot.waitUntil(lambda: wizard.currentId() == SNAPSHOT, timeout=10_000)
    assert wizard.page(SNAPSHOT).chosen().id == record.id
    while wizard.currentId() != PROGRESS:
        next_button(wizard).click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    text = wizard.currentPage().text.text()
    assert wizard.outcome.method == "unchanged" and wizard.outcome.safety_snapshot is None
    assert "It already held exactly this data: nothing was written." in text
    assert "safety snapshot" not in text
    assert content_digest(notes) == before
    wizard.button(QWizard.WizardButton.FinishButton).click()
