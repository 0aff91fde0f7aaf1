""" "Save your recovery key": the step before encryption is switched on for a remote.

Encrypted backups open only with this machine's key, which lives in its keyring; a lost
machine would take every encrypted backup with it. So before encryption is switched on,
the user saves the key to a file (`Service.export_key`, optionally protected with a
passphrase) and confirms it is kept somewhere safe. Cancel leaves encryption off. For a
key that existed before, the user may instead confirm they already keep a copy.

A passphrase's scrypt takes seconds (in a child process, core/key_passphrase.py): while
it runs, the save button is "Cancel saving", and closing the dialog cancels it too; a
cancelled save writes no file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
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

from lifeboat.core.results import KeyInfo
from lifeboat.foundation.errors import Cancelled
from lifeboat.foundation.progress import CancelToken
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import show_error
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service

DEFAULT_STEM = "lifeboat-recovery-key"
#: A plain key file is text; a passphrase-protected one is an age file (`age -d` opens it).
PLAIN_SUFFIX, PROTECTED_SUFFIX = ".txt", ".age"
MIN_PASSPHRASE = 8


def key_file_name(folder: Path, *, protected: bool) -> Path:
    """A free name for the recovery key file in `folder`, with the extension that says
    what it is: .age when protected with a passphrase, .txt when not."""
    suffix = PROTECTED_SUFFIX if protected else PLAIN_SUFFIX
    path = folder / f"{DEFAULT_STEM}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{DEFAULT_STEM}-{n}{suffix}"
        n += 1
    return path


def with_key_suffix(path: Path, *, protected: bool) -> Path:
    """The chosen name, its extension made to say what the file is (a name ending in
    the other kind's extension is changed; any other name gets the right one added)."""
    right, wrong = (
        (PROTECTED_SUFFIX, PLAIN_SUFFIX) if protected else (PLAIN_SUFFIX, PROTECTED_SUFFIX)
    )
    if path.suffix == right:
        return path
    if path.suffix == wrong:
        return path.with_suffix(right)
    return path.with_name(path.name + right)


class RecoveryKeyDialog(QDialog):
    def __init__(
        self,
        service: Service,
        recipient: str,
        *,
        new_key: bool,
        export_only: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """`export_only`: save another copy of the key (Settings → Remote), not the step
        before encryption is switched on."""
        super().__init__(parent)
        self.setObjectName("recovery-key-dialog")
        self.setWindowTitle(
            "Save a copy of your recovery key" if export_only else "Save your recovery key"
        )
        self.export_only = export_only
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.recipient = recipient
        self.saved_to: Path | None = None
        self.picker: QFileDialog | None = None
        self._saving: CancelToken | None = None  # the save under way (a passphrase's scrypt)
        self._save_text = ""  # the save button's words before it became "Cancel saving"

        intro = self._build_intro(recipient, new_key=new_key)
        fields, note = self._build_passphrase()
        save_row = self._build_save_row()
        self._build_confirmations(new_key=new_key)
        self._build_buttons()
        if export_only:
            self.kept_safe.setHidden(True)
            self.have_copy.setHidden(True)
            self.turn_on.setHidden(True)
            cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
            cancel.setText("Close")

        layout = QVBoxLayout(self)
        for widget in intro:
            layout.addWidget(widget)
        layout.addSpacing(6)
        layout.addLayout(fields)
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addLayout(save_row)
        layout.addSpacing(6)
        layout.addWidget(self.kept_safe)
        layout.addWidget(self.have_copy)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self._update()
        self.resize(560, 420)

    def _build_intro(self, recipient: str, *, new_key: bool) -> tuple[QLabel, ...]:
        """The heading, why the key must be saved, and which key it is."""
        heading = QLabel(
            "<b>Save a copy of your recovery key</b>"
            if self.export_only
            else "<b>Save your recovery key before encryption is switched on</b>"
        )
        made = "Lifeboat has just created" if new_key else "Lifeboat uses"
        explain = QLabel(
            f"{made} an encryption key for your uploads. It is kept in "
            f"{self.service.secrets.place()} on this computer, and only it can open the "
            "encrypted backups. If this computer is lost "
            "or reinstalled, the key is gone, and with it every encrypted backup, unless "
            "you keep a copy somewhere else: a USB stick, a password manager, a printout."
        )
        explain.setWordWrap(True)
        key = QLabel(f"Key: {recipient}")
        key.setObjectName("recovery-recipient")
        key.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        key.setWordWrap(True)
        key.setEnabled(False)
        return heading, explain, key

    def _build_passphrase(self) -> tuple[QFormLayout, QLabel]:
        """The optional passphrase (twice), what is wrong with it, and what it is for."""
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("recovery-passphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText(f"optional, at least {MIN_PASSPHRASE} characters")
        self.repeat = QLineEdit()
        self.repeat.setObjectName("recovery-passphrase-repeat")
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel()
        self.problem.setObjectName("recovery-problem")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        self.problem.hide()
        fields = QFormLayout()
        fields.addRow("Protect the file with a passphrase:", self.passphrase)
        fields.addRow("Passphrase again:", self.repeat)
        note = QLabel(
            "With a passphrase, the file is useless to whoever finds it without "
            "the passphrase (it is saved as an .age file: the standard age tool "
            "opens it, and so does Import a key… on another computer)."
        )
        note.setWordWrap(True)
        note.setEnabled(False)
        return fields, note

    def _build_save_row(self) -> QHBoxLayout:
        self.save_button = QPushButton("Save recovery key…")
        self.save_button.setObjectName("save-recovery-key")
        self.save_button.clicked.connect(self._save_clicked)
        self.saved_label = QLabel()
        self.saved_label.setObjectName("recovery-saved")
        self.saved_label.setWordWrap(True)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_button)
        save_row.addWidget(self.saved_label, 1)
        return save_row

    def _build_confirmations(self, *, new_key: bool) -> None:
        """The user's word that the saved file is kept safe, or (for a key that existed
        before) that they already keep a copy."""
        self.kept_safe = QCheckBox(
            "I have put the recovery key file somewhere safe, away from this computer"
        )
        self.kept_safe.setObjectName("recovery-kept-safe")
        self.kept_safe.setEnabled(False)
        self.kept_safe.toggled.connect(self._update)
        self.have_copy = QCheckBox("I already keep a copy of this key (saved earlier)")
        self.have_copy.setObjectName("recovery-have-copy")
        self.have_copy.setHidden(new_key)  # not shown yet: setVisible would map it as a window
        self.have_copy.toggled.connect(self._update)

    def _build_buttons(self) -> None:
        self.buttons = QDialogButtonBox()
        self.turn_on = self.buttons.addButton(
            "Turn on encryption", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.turn_on.setObjectName("turn-on-encryption")
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def ready(self) -> bool:
        """May encryption be switched on (the key is saved, or a copy is kept)?"""
        return (self.saved_to is not None and self.kept_safe.isChecked()) or (
            not self.have_copy.isHidden() and self.have_copy.isChecked()
        )

    def pick_file(self) -> QFileDialog | None:
        """Check the passphrase, then ask where to save (without blocking)."""
        if self._passphrase_problem() is not None:
            return None
        protected = bool(self.passphrase.text())
        picker = QFileDialog(
            self,
            "Save the recovery key",
            str(key_file_name(Path.home(), protected=protected)),
            "Protected key files (*.age)" if protected else "Key files (*.txt)",
        )
        picker.setObjectName("recovery-key-picker")
        picker.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        picker.fileSelected.connect(lambda path: self.save_to(Path(path)))
        picker.open()
        self.picker = picker
        return picker

    def save_to(self, path: Path) -> None:
        """Export the key to `path` (in the background: a passphrase takes a moment)."""
        problem = self._passphrase_problem()
        if problem is not None or self._saving is not None:
            return
        passphrase = self.passphrase.text() or None
        path = with_key_suffix(path, protected=passphrase is not None)
        service = self.service

        def export(_progress: object, cancel: CancelToken) -> list[str]:
            return service.export_key(path, passphrase, cancel)

        self._save_text = self.save_button.text()
        self.save_button.setText("Cancel saving")
        self._fields_fixed(True)  # what is being saved is what they show
        self.saved_label.setText("Saving…" if passphrase is None else "Protecting the key file…")
        task = run_in_background(
            export,
            what="save the recovery key",
            on_done=lambda _r: self._saved(path, passphrase is not None),
            on_failed=self._save_failed,
            with_progress=True,
            owner=self,
        )
        self._saving = task.cancel

    def cancel_save(self) -> None:
        """Stop the save under way (the passphrase's child is killed): no file is written."""
        if self._saving is not None:
            self._saving.cancel()
            self.save_button.setEnabled(False)
            self.saved_label.setText("Cancelling…")

    def done(self, result: int) -> None:
        self.cancel_save()  # a closed dialog leaves no scrypt running, and writes no file
        super().done(result)

    def accept(self) -> None:
        if self.ready():
            super().accept()

    # -- helpers -----------------------------------------------------------------------

    def _passphrase_problem(self) -> str | None:
        text, again = self.passphrase.text(), self.repeat.text()
        problem = None
        if text and len(text) < MIN_PASSPHRASE:
            problem = f"The passphrase is too short: use at least {MIN_PASSPHRASE} characters."
        elif text != again:
            problem = "The two passphrases differ."
        self.problem.setText(problem or "")
        self.problem.setVisible(problem is not None)
        return problem

    def _save_clicked(self) -> None:
        if self._saving is not None:
            self.cancel_save()
        else:
            self.pick_file()

    def _fields_fixed(self, fixed: bool) -> None:
        self.passphrase.setReadOnly(fixed)
        self.repeat.setReadOnly(fixed)

    def _saved(self, path: Path, protected: bool) -> None:
        self._saving = None
        self._fields_fixed(False)
        self.saved_to = path
        self.save_button.setEnabled(True)
        self.save_button.setText("Save another copy…")
        how = (
            "protected with your passphrase"
            if protected
            else "readable by whoever has the file: keep it private"
        )
        self.saved_label.setText(f"Saved to {path} ({how}).")
        self.kept_safe.setEnabled(True)
        self._update()

    def _save_failed(self, exc: BaseException) -> None:
        self._saving = None
        self._fields_fixed(False)
        self.save_button.setEnabled(True)
        self.save_button.setText(self._save_text)
        if isinstance(exc, Cancelled):  # what the user asked for, not a problem
            earlier = f" (the copy saved to {self.saved_to} stays)" if self.saved_to else ""
            self.saved_label.setText(f"Cancelled: no file was saved{earlier}.")
            return
        self.saved_label.setText("")
        show_error(self, exc, title="Recovery key not saved")

    def _update(self) -> None:
        self.turn_on.setEnabled(self.ready())


def request_saved_key(
    owner: QWidget,
    service: Service,
    *,
    on_ready: Callable[[], None],
    on_cancel: Callable[[], None],
    on_failed: Callable[[BaseException], None],
    on_dialog: Callable[[RecoveryKeyDialog], None] | None = None,
) -> None:
    """Before anything is encrypted: make sure there is a key and that its recovery copy
    was saved (creating the key if there is none). Calls `on_ready` once the user has
    acknowledged it, `on_cancel` if they backed out. A key kept elsewhere (recipients
    only, no identity here) has nothing to save here: ready at once."""

    def ask(recipient: str, new_key: bool) -> None:
        dialog = RecoveryKeyDialog(service, recipient, new_key=new_key, parent=owner)
        dialog.accepted.connect(on_ready)
        dialog.rejected.connect(on_cancel)
        dialog.open()
        if on_dialog is not None:
            on_dialog(dialog)

    def known(info: KeyInfo) -> None:
        if info.local:
            ask(info.local[0], False)
        elif info.recipients:
            on_ready()
        else:
            run_in_background(
                service.init_key,
                what="create an encryption key",
                on_done=lambda recipient: ask(recipient, True),
                on_failed=on_failed,
                owner=owner,
            )

    run_in_background(
        service.key_info,
        what="read the encryption keys",
        on_done=known,
        on_failed=on_failed,
        owner=owner,
    )
