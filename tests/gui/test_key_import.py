"""The "Import a recovery key" dialog: what it says stays said.

Its key file field asks whether the file needs a passphrase when editing finishes, and
editing finishes again as the focus leaves the field (the answer moves the focus to the
passphrase). The same file asked about again must not wipe out what an import said
(this flaked tests/gui/test_new_machine_restore.py: the import's "type the passphrase"
replaced by a blank line).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from lifeboat.gui.key_import import ImportKeyDialog
from lifeboat.gui.workers import wait_for_tasks
from lifeboat.service import Service

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def key_file(tmp_path: Path, home: Path, file_keyring: Path) -> Path:
    path = tmp_path / "lifeboat-recovery-key.age"
    maker = Service()
    maker.init_key()
    maker.export_key(path, PASSPHRASE)
    return path


def settled() -> None:
    """Every background task done and its answer delivered to the dialog."""
    assert wait_for_tasks()
    QApplication.processEvents()


def test_editing_finished_again_does_not_wipe_out_the_import_message(
    qtbot, key_file: Path, monkeypatch: pytest.MonkeyPatch
):
    service = Service()
    asked: list[Path] = []
    real = service.key_file_protected

    def counted(path: Path) -> bool:
        asked.append(path)
        return real(path)

    monkeypatch.setattr(service, "key_file_protected", counted)
    dialog = ImportKeyDialog(service)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.choose(str(key_file))
    qtbot.waitUntil(lambda: dialog.protected and dialog.passphrase.isEnabled(), timeout=10_000)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: "passphrase" in dialog.message.text(), timeout=20_000)
    dialog.path.editingFinished.emit()  # the focus left the field: the same file
    settled()
    assert "passphrase" in dialog.message.text(), "what the import said is still said"
    assert asked == [key_file], "the same file is asked about once"

    dialog.passphrase.setText(PASSPHRASE)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("✓"), timeout=20_000)
    dialog.path.editingFinished.emit()
    settled()
    assert dialog.message.text().startswith("✓ Imported")
