"""History's own actions on a snapshot: Save a copy… (a verified database at a free
name, never over a file), Show in folder (not for a remote-only snapshot), Upload now
(only for a database with a remote), from the buttons and the context menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QFileDialog

from lifeboat.gui.history_dialog import HistoryDialog
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.gui.conftest import OpenedUrls, wait_for_box
from tests.gui.test_history_dialog import open_history, shown_ids
from tests.helpers.databases import db_content, make_db
from tests.helpers.memory_remote import add_memory_remote


@pytest.fixture
def service(home: Path) -> Service:
    return Service(stores=MemoryStores())


@pytest.fixture
def notes(service: Service, tmp_path: Path) -> Path:
    """notes.db uploaded to the memory remote "offsite", crm.db to none."""
    (tmp_path / "data").mkdir()
    db = make_db(tmp_path / "data" / "notes.db", rows=400)
    add_memory_remote(service)
    service.add_source(db, schedule="manual", remote="offsite")
    service.add_source(make_db(tmp_path / "data" / "crm.db", rows=50), schedule="manual")
    return db


def picked(qtbot, dialog: HistoryDialog) -> QFileDialog:
    qtbot.waitUntil(lambda: dialog.copy_picker.isVisible(), timeout=30_000)
    return dialog.copy_picker


def test_save_a_copy_proposes_a_free_name_and_never_writes_over_a_file(
    qtbot, make_tray, service: Service, notes: Path
):
    record = service.backup("notes", upload=False)
    stamp = record.manifest.created_at.astimezone().strftime("%Y%m%d-%H%M")
    taken = notes.parent / f"notes-copy-{stamp}.db"
    taken.write_bytes(b"an earlier copy")
    dialog = open_history(qtbot, make_tray())
    assert dialog.select_snapshot(record.id)
    dialog.snapshots_tab.copy_button.click()
    picker = picked(qtbot, dialog)
    proposed = Path(picker.selectedFiles()[0])
    assert proposed == notes.parent / f"notes-copy-{stamp}-2.db", "a free name"
    picker.accept()
    qtbot.waitUntil(lambda: "Saved the snapshot of notes" in dialog.message.text(), timeout=30_000)
    assert db_content(proposed) == db_content(notes)
    assert taken.read_bytes() == b"an earlier copy"

    dialog.snapshots_tab.copy_button.click()
    picker = picked(qtbot, dialog)
    picker.selectFile(str(taken))
    picker.accept()
    box = wait_for_box(qtbot, "already exists")
    assert box.windowTitle() == "Could not save a copy" and "--" not in box.informativeText()
    box.done(0)
    assert taken.read_bytes() == b"an earlier copy"
    assert not [p for p in notes.parent.iterdir() if p.name.startswith(".lb-")], "no work file"


def test_show_in_folder_opens_the_snapshots_folder_unless_it_is_on_the_remote_only(
    qtbot, make_tray, service: Service, notes: Path, opened_urls: OpenedUrls
):
    gone = service.backup("notes")
    service.delete_snapshot(gone.id)  # its copy on offsite remains
    here = service.backup("notes")
    dialog = open_history(qtbot, make_tray())
    tab = dialog.snapshots_tab
    assert dialog.select_snapshot(here.id)
    tab.folder_button.click()
    assert opened_urls.paths == [here.path.parent]
    assert dialog.select_snapshot(gone.id)
    assert not tab.folder_button.isEnabled()
    assert "remote only" in tab.folder_button.toolTip()


def test_upload_now_sends_what_the_remote_lacks(qtbot, make_tray, service: Service, notes: Path):
    crm = service.backup("crm")
    dialog = open_history(qtbot, make_tray())
    # Taken once the tray has started (it uploads what is missing when it starts).
    waiting = service.backup("notes", upload=False)
    qtbot.waitUntil(lambda: waiting.id in shown_ids(dialog), timeout=10_000)
    tab = dialog.snapshots_tab
    assert dialog.select_snapshot(crm.id)
    assert not tab.upload_button.isEnabled()
    assert "crm is not uploaded to a remote" in tab.upload_button.toolTip()
    assert dialog.select_snapshot(waiting.id)
    assert tab.upload_button.isEnabled()
    tab.upload_button.click()
    qtbot.waitUntil(
        lambda: "Uploaded 1 snapshot of notes to offsite" in dialog.message.text(),
        timeout=30_000,
    )
    assert service.snapshot(waiting.id).proven_copy_on("offsite") is not None
    qtbot.waitUntil(lambda: tab.upload_button.isEnabled(), timeout=10_000)
    tab.upload_button.click()
    qtbot.waitUntil(
        lambda: "Nothing to send: offsite already holds" in dialog.message.text(), timeout=30_000
    )


def test_the_context_menu_offers_every_action_with_its_mnemonic(
    qtbot, make_tray, service: Service, notes: Path
):
    crm = service.backup("crm")
    dialog = open_history(qtbot, make_tray())
    tab = dialog.snapshots_tab
    assert dialog.select_snapshot(crm.id)
    tab.table.customContextMenuRequested.emit(QPoint(5, 5))
    actions = {a.text(): a for a in tab.menu.actions() if not a.isSeparator()}
    assert list(actions) == [
        "&Restore this…",
        "&Browse…",
        "&Verify",
        "&Pin",
        "&Save a copy…",
        "Show in &folder",
        "&Upload now",
        "&Delete…",
    ]
    assert not actions["&Upload now"].isEnabled()
    assert "not uploaded to a remote" in actions["&Upload now"].toolTip()
    tab.menu.close()


def test_a_long_progress_text_wraps_and_moves_nothing(qtbot, make_tray, notes: Path):
    tray_app = make_tray()
    dialog = open_history(qtbot, tray_app)
    dialog.resize(700, 480)
    qtbot.wait(50)  # the layout settles
    table = dialog.snapshot_table.geometry()
    dialog.message.setText(
        "Verifying snapshot 3f9a1c2b of notes: decompressing, hashing and checking every "
        "page against the manifest, then an integrity check of the whole database: 45%"
    )
    qtbot.wait(50)
    assert dialog.snapshot_table.geometry() == table
    assert dialog.message.heightForWidth(dialog.message.width()) <= dialog.message.height()
