"""The Remote tab's Encrypt box: switched on only once the recovery key is saved (or a
copy is known to be kept), switched off only once the user confirms. A part of
RemotePage (remote_settings.py), kept apart because it is its own conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

from PySide6.QtWidgets import QWidget

from lifeboat.core.config_model import RemoteConfig
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.recovery_key import RecoveryKeyDialog, request_saved_key
from lifeboat.service.remote_changes import RemoteDraft

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from lifeboat.gui.remote_form import RemoteForm
    from lifeboat.service import Service


@dataclass
class RemoteEntry:
    key: str
    draft: RemoteDraft
    problems: dict[str, str] = field(default_factory=dict)


class EncryptionSwitch:
    """Mixed into RemotePage (a QWidget), whose attributes these are."""

    service: Service
    form: RemoteForm
    entries: list[RemoteEntry]
    current: int
    saved: dict[str, RemoteConfig]
    recovery: RecoveryKeyDialog | None
    if TYPE_CHECKING:
        changed: SignalInstance

    def _as_widget(self) -> QWidget:
        return cast(QWidget, self)

    # -- encryption --------------------------------------------------------------------

    def request_encryption(self, on: bool) -> None:
        """The user ticked (or unticked) Encrypt: a saved recovery key first (or a
        confirmation to stop encrypting)."""
        if not 0 <= self.current < len(self.entries):
            return
        entry = self.entries[self.current]
        if not on:
            saved = self.saved.get(entry.draft.name)
            if saved is None or not saved.encrypt or entry.draft.is_new:
                self._set_encrypt(entry, False)
                return
            ask(
                self._as_widget(),
                "Stop encrypting?",
                f"Stop encrypting uploads to {entry.draft.name}?",
                "New copies there will be readable by whoever can read the bucket. "
                "Copies already encrypted stay encrypted, and restorable with your key.",
                "Stop encrypting",
                lambda: self._set_encrypt(entry, False),
                danger=True,
            )
            return
        self.form.encrypt.setEnabled(False)
        request_saved_key(
            self._as_widget(),
            self.service,
            on_ready=lambda: self._key_saved(entry, True),
            on_cancel=lambda: self._key_saved(entry, False),
            on_failed=self._key_failed,
            on_dialog=self._showing_recovery,
        )

    def _showing_recovery(self, dialog: RecoveryKeyDialog) -> None:
        self.form.encrypt.setEnabled(True)
        self.recovery = dialog

    def _key_saved(self, entry: RemoteEntry, on: bool) -> None:
        self.form.encrypt.setEnabled(True)
        if on:
            self._set_encrypt(entry, True)

    def _key_failed(self, exc: BaseException) -> None:
        self.form.encrypt.setEnabled(True)
        show_error(self._as_widget(), exc, title="Encryption not switched on")

    def _set_encrypt(self, entry: RemoteEntry, on: bool) -> None:
        if entry not in self.entries:
            return
        if 0 <= self.current < len(self.entries) and self.entries[self.current] is entry:
            self.form.set_encrypt(on)
        else:
            entry.draft = replace(entry.draft, encrypt=on)
            self.changed.emit()
