"""Import a recovery key: the file another computer saved ("Save your recovery key"),
plain or protected with a passphrase, put into this machine's keyring
(`Service.import_key`), so that the encrypted backups made there open here.

Whether the file needs a passphrase is read from the file when it is chosen; the
passphrase field is there from the start (layouts stay put) and enabled when needed.
Opening a protected file takes seconds of scrypt: it runs in a child process
(core/key_passphrase.py), the dialog says "Opening the key file…", and Cancel (or closing the
dialog) kills that process; nothing is imported then.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import error_lines
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import Task, run_in_background
from lifeboat.service import Service

OK_STYLE = "color: #188038;"
KEY_FILTER = "Recovery key files (*.age *.txt *.key);;All files (*)"


def import_problem(exc: BaseException) -> str:
    """An import's failure in the dialog's words (the service's hints name commands)."""
    if isinstance(exc, Cancelled):
        return "Cancelled: the key file was not imported."
    if isinstance(exc, LifeboatError):
        if "protected by a passphrase" in exc.message:
            return "This key file is protected by a passphrase: type it above."
        if "passphrase does not open" in exc.message:
            return "The passphrase does not open this key file: check it and try again."
        if "no age identity" in exc.message:
            return (
                "This file holds no recovery key: choose the file saved with "
                "“Save recovery key…” on the other computer."
            )
    message, hint = error_lines(exc)
    return f"{message} {hint}".strip()


class ImportKeyDialog(QDialog):
    """Choose the key file (and its passphrase), import it; `imported` carries the
    recipients of the keys now in this machine's keyring."""

    imported = Signal(list)

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("import-key-dialog")
        self.setWindowTitle("Import a recovery key")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.picker: QFileDialog | None = None
        self.protected = False
        self.busy = False
        self.importing: Task | None = None
        self._read_path = ""  # the key file whose protection was last asked about
        explain = QLabel(
            "Encrypted backups open only with the key of the computer that made them. "
            "Choose the recovery key file saved on that computer; its key is then kept in "
            f"{service.secrets.place()} here, and this computer can restore those backups."
        )
        explain.setWordWrap(True)
        self.path = QLineEdit()
        self.path.setObjectName("key-file")
        self.path.setPlaceholderText("the recovery key file (…-recovery-key.txt or .age)")
        self.path.editingFinished.connect(self._check_file)
        browse = QPushButton("&Browse…")
        browse.setObjectName("browse-key-file")
        browse.clicked.connect(self.browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("key-passphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("only if the file is protected with one")
        fields = QFormLayout()
        fields.addRow("Key file:", file_row)
        fields.addRow("Passphrase:", self.passphrase)
        self.message = QLabel(" ")
        self.message.setObjectName("import-result")
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(self.message.fontMetrics().lineSpacing() * 3)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = self._make_buttons()
        layout = QVBoxLayout(self)
        layout.addWidget(explain)
        layout.addSpacing(6)
        layout.addLayout(fields)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(560, 260)

    def _make_buttons(self) -> QDialogButtonBox:
        """Import, Cancel import (enabled while an import runs) and Close."""
        buttons = QDialogButtonBox()
        self.import_button = buttons.addButton("&Import", QDialogButtonBox.ButtonRole.ActionRole)
        self.import_button.setObjectName("import-key")
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = buttons.addButton(
            "&Cancel import", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.cancel_button.setObjectName("cancel-import")
        self.cancel_button.clicked.connect(self.cancel_import)
        self.cancel_button.setEnabled(False)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.reject)
        return buttons

    def browse(self) -> QFileDialog:
        picker = QFileDialog(
            self, "Choose the recovery key file", self.path.text() or str(Path.home()), KEY_FILTER
        )
        picker.setObjectName("key-file-picker")
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.fileSelected.connect(self.choose)
        picker.open()
        self.picker = picker
        return picker

    def choose(self, path: str) -> None:
        self.path.setText(path)
        self._check_file()

    def _check_file(self) -> None:
        """Read whether the chosen file needs a passphrase (a few bytes: on the GUI thread
        would do, but a file on a slow USB stick must not freeze the window)."""
        text = self.path.text().strip()
        # editingFinished comes again as the focus leaves the field (_file_read moves
        # it): asked again, the same file's answer would wipe out an import's message
        if not text or text == self._read_path:
            return
        self._read_path = text
        run_in_background(
            lambda: self.service.key_file_protected(Path(text)),
            what="read the recovery key file",
            on_done=lambda protected: self._file_read(text, protected),
            on_failed=self._file_unread,
            owner=self,
        )

    def _file_unread(self, exc: BaseException) -> None:
        self._read_path = ""  # asked again once the file is fixed
        self._say(import_problem(exc), ok=False)

    def _file_read(self, path: str, protected: bool) -> None:
        if path != self._read_path:
            return  # another file was chosen since: its own answer comes
        self.protected = protected
        self.passphrase.setPlaceholderText(
            "needed: this file is protected with a passphrase"
            if protected
            else "not needed: this file is not protected"
        )
        self.passphrase.setEnabled(protected)
        if not self.busy:
            self._say(" ", ok=None)
        if protected:
            self.passphrase.setFocus()

    def start_import(self) -> None:
        text = self.path.text().strip()
        if self.busy:
            return
        if not text:
            self._say("Choose the recovery key file first.", ok=False)
            return
        passphrase = self.passphrase.text() if self.passphrase.isEnabled() else ""
        self._set_busy(True)
        self._say("Opening the key file…" if passphrase else "Importing…", ok=None)
        service = self.service

        def import_key(_progress: object, cancel: CancelToken) -> list[str]:
            return service.import_key(Path(text), passphrase or None, cancel)

        self.importing = run_in_background(
            import_key,
            what="import a recovery key",
            on_done=self._imported,
            on_failed=self._failed,
            with_progress=True,
            owner=self,
        )

    def cancel_import(self) -> None:
        """Stop the import under way (its key file opener is killed)."""
        if self.importing is not None and self.busy:
            self.importing.cancel.cancel()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…", ok=None)

    def done(self, result: int) -> None:
        self.cancel_import()  # a closed dialog leaves no scrypt running for nothing
        super().done(result)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.import_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.path.setReadOnly(busy)
        if not busy:
            self.importing = None

    def _imported(self, recipients: list[str]) -> None:
        self._set_busy(False)
        self.passphrase.clear()
        keys = ", ".join(recipients)
        self._say(f"✓ Imported: this computer can now open backups encrypted to {keys}.", ok=True)
        self.close_button.setFocus()
        self.imported.emit(recipients)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        # a cancel the user asked for is where things stand, not a problem
        self._say(import_problem(exc), ok=None if isinstance(exc, Cancelled) else False)

    def _say(self, text: str, *, ok: bool | None) -> None:
        """Show a result (ok), a problem (not ok) or where things stand (None)."""
        self.message.setStyleSheet("" if ok is None else OK_STYLE if ok else ERROR_STYLE)
        self.message.setText(text)
