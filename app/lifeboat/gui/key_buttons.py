"""Settings → Remote's recovery key buttons: save another copy of this machine's key, or
import the key another computer saved (to restore its encrypted backups here).

They live on the Remote tab because the key is what opens the encrypted uploads to a
remote, and a person setting up a new machine is on that tab adding the remote anyway.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lifeboat.core.results import KeyInfo
from lifeboat.gui.key_import import ImportKeyDialog
from lifeboat.gui.messages import show_error, show_info
from lifeboat.gui.recovery_key import RecoveryKeyDialog
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service


class RecoveryKeyButtons(QWidget):
    """ "Save a copy…" and "Import a key…"; `imported` once a key was imported."""

    imported = Signal()

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.dialog: RecoveryKeyDialog | ImportKeyDialog | None = None
        title = QLabel("Recovery key:")
        self.export_button = QPushButton("&Save a copy…")
        self.export_button.setObjectName("export-recovery-key")
        self.export_button.setToolTip("Save this computer's encryption key to a file again")
        self.export_button.clicked.connect(self.export_key)
        self.import_button = QPushButton("I&mport a key…")
        self.import_button.setObjectName("import-recovery-key")
        self.import_button.setToolTip(
            "Use the recovery key saved on another computer, to restore its encrypted backups"
        )
        self.import_button.clicked.connect(self.import_key)
        row = QHBoxLayout()
        row.addWidget(self.export_button)
        row.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addLayout(row)

    def export_key(self) -> None:
        """Open "Save a copy of your recovery key" for this machine's key."""
        self.export_button.setEnabled(False)
        run_in_background(
            self.service.key_info,
            what="read the encryption keys",
            on_done=self._export_known,
            on_failed=self._failed,
            owner=self,
        )

    def _export_known(self, info: KeyInfo) -> None:
        self.export_button.setEnabled(True)
        if not info.local:
            show_info(
                self.window(),
                "No key to save",
                "This computer has no encryption key yet.",
                "One is created when you switch on encryption for a remote; or import "
                "the key another computer saved with “Import a key…”.",
            )
            return
        dialog = RecoveryKeyDialog(
            self.service, info.local[0], new_key=False, export_only=True, parent=self.window()
        )
        dialog.open()
        self.dialog = dialog

    def import_key(self) -> ImportKeyDialog:
        dialog = ImportKeyDialog(self.service, parent=self.window())
        dialog.imported.connect(lambda _r: self.imported.emit())
        dialog.open()
        self.dialog = dialog
        return dialog

    def _failed(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        show_error(self.window(), exc, title="Cannot read the encryption keys")
