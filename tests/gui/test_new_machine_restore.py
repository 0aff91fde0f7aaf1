"""A new machine restores from the GUI, end to end against the S3 server process.

Machine 1 (its own LIFEBOAT_HOME and keyring file) backs up an encrypted database to a
remote and saves its recovery key protected with a passphrase; the database is then
lost. Machine 2 (another LIFEBOAT_HOME, another keyring file), through the tray's own
windows only: adds the remote in Settings → Remote, imports the key file, is offered to
look for backups on the new remote, finds them, and History and the restore wizard list
them; the wizard restores the database to a new file, with the same rows.
"""

from __future__ import annotations

from pathlib import Path

import keyring.core
import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from lifeboat.gui.app import TrayApp
from lifeboat.gui.backup_search import BackupSearchDialog
from lifeboat.gui.key_import import ImportKeyDialog
from lifeboat.gui.restore_wizard import RESULT, SNAPSHOT, SOURCE, TARGET
from lifeboat.gui.settings_dialog import REMOTE_TAB, SettingsDialog
from lifeboat.service import Service
from tests.gui.conftest import gone
from tests.gui.test_history_dialog import open_history, shown_ids
from tests.gui.test_restore_wizard import next_button, open_wizard
from tests.helpers.databases import db_content, make_db

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    """Machine 2: a fresh home and keyring file, nothing backed up yet."""
    return Service()


def machine_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server, bucket: str
) -> tuple[str, dict[str, list[tuple]], Path]:
    """Back up notes.db encrypted to the remote from another home and keyring; return
    the snapshot's id, the database's content and the saved recovery key file."""
    machine = tmp_path / "machine-1"
    key_file = machine / "lifeboat-recovery-key.age"
    with monkeypatch.context() as env:
        env.setenv("LIFEBOAT_HOME", str(machine / "home"))
        env.setenv("XDG_DATA_HOME", str(machine / "xdg-data"))
        keyring.core.init_backend()
        first = Service()
        first.init_key()
        first.export_key(key_file, PASSPHRASE)
        first.add_remote(
            "offsite",
            provider="minio",
            bucket=bucket,
            endpoint=s3_server.endpoint,
            prefix="lb",
            access_key_id=s3_server.access_key_id,
            secret=s3_server.secret_access_key,
            encrypt=True,
        )
        db = make_db(machine / "notes.db", rows=500)
        first.add_source(db, schedule="manual", remote="offsite")
        record = first.backup("notes")
        assert first.snapshot(record.id).proven_copy_on("offsite") is not None
        content = db_content(db)
    keyring.core.init_backend()
    return record.id, content, key_file


def add_remote_in_settings(qtbot, tray_app: TrayApp, s3_server, bucket: str) -> SettingsDialog:
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    assert isinstance(dialog, SettingsDialog)
    dialog.tabs.setCurrentIndex(REMOTE_TAB)
    page = dialog.remotes
    page.add_remote()
    form = page.form
    form.provider.setCurrentIndex(form.provider.findData("minio"))
    form.endpoint.setText(s3_server.endpoint)
    form.bucket.setText(bucket)
    form.prefix.setText("lb")
    form.access_key_id.setText(s3_server.access_key_id)
    form.secret.setText(s3_server.secret_access_key)
    assert not page.look_button.isEnabled(), "a remote not saved yet cannot be read"
    return dialog


def import_key(qtbot, dialog: SettingsDialog, key_file: Path) -> None:
    importer = dialog.remotes.key_buttons.import_key()
    assert isinstance(importer, ImportKeyDialog)
    importer.choose(str(key_file))
    qtbot.waitUntil(lambda: importer.passphrase.isEnabled() and importer.protected, timeout=10_000)
    importer.import_button.click()
    qtbot.waitUntil(lambda: importer.message.text() != "Importing…", timeout=20_000)
    assert "passphrase" in importer.message.text(), "no passphrase given: asked for it"
    importer.passphrase.setText(PASSPHRASE)
    importer.import_button.click()
    qtbot.waitUntil(lambda: importer.message.text().startswith("✓"), timeout=20_000)
    importer.close()


def the_offer(qtbot) -> BackupSearchDialog:
    found: list[BackupSearchDialog] = []

    def shown() -> bool:
        found[:] = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, BackupSearchDialog) and w.isVisible()
        ]
        return bool(found)

    qtbot.waitUntil(shown, timeout=10_000)
    return found[0]


def test_a_new_machine_adds_the_remote_imports_the_key_and_restores(
    qtbot,
    make_tray,
    service: Service,
    s3_server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    snapshot_id, content, key_file = machine_one(tmp_path, monkeypatch, s3_server, bucket)
    tray_app: TrayApp = make_tray()

    history = open_history(qtbot, tray_app)
    assert shown_ids(history) == []
    assert history.missing_note.isVisible(), "an empty History says why"
    assert "Settings → Remote" in history.missing_note.text.text()
    assert not history.missing_note.button.isVisible(), "no remote yet: nothing to look in"

    settings = add_remote_in_settings(qtbot, tray_app, s3_server, bucket)
    import_key(qtbot, settings, key_file)
    assert service.key_info().local, "the key is in this machine's keyring now"
    settings.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: gone(settings), timeout=10_000)
    assert [r.name for r in service.remotes()] == ["offsite"]

    offer = the_offer(qtbot)
    assert offer.intro.text().startswith("Look for backups on offsite?")
    offer.look.click()
    qtbot.waitUntil(lambda: offer.report is not None, timeout=30_000)
    assert offer.status.text().startswith("Found 1 snapshot of notes on offsite."), (
        offer.status.text()
    )
    assert "encrypted" not in offer.status.text(), "the key is already imported"
    offer.close()

    qtbot.waitUntil(lambda: snapshot_id in shown_ids(history), timeout=10_000)
    assert not history.missing_note.isVisible()

    wizard = open_wizard(tray_app)
    assert wizard.currentId() == SOURCE
    source_page = wizard.currentPage()
    item = source_page.choices.currentItem()
    assert item is not None and item.text().startswith("notes  —  1 snapshot")
    assert "its snapshots are on offsite" in item.text()
    next_button(wizard).click()
    assert wizard.currentId() == SNAPSHOT
    assert wizard.currentPage().chosen().id == snapshot_id
    next_button(wizard).click()
    assert wizard.currentId() == TARGET
    target = wizard.currentPage()
    assert not target.in_place.isEnabled(), "not backed up here: only to a new file"
    out = tmp_path / "machine-2" / "notes.db"
    out.parent.mkdir()
    target.path.setText(str(out))
    next_button(wizard).click()
    next_button(wizard).click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=60_000)
    assert wizard.outcome is not None, wizard.currentPage().text.text()
    assert db_content(out) == content
