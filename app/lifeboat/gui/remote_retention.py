"""The Remote tab's "What this remote keeps": the same snapshots as on this computer, or
rules of its own (the retention editor), for the databases that upload to the remote.

What a remote keeps is a setting of each database (`remote_keep`; none: the same as its
`keep`). The box shows the rules of the databases ticked to upload here and sets them on
all of them: one remote, one set of rules, as a person thinks of it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from lifeboat.gui.retention_editor import RetentionEditor
from lifeboat.service import Service

DEFAULT_OWN_RULES = "last=10,daily=14,weekly=8,monthly=24"


class RemoteRetentionBox(QGroupBox):
    changed = Signal()

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__("What this remote keeps", parent)
        self.setObjectName("remote-keep-box")
        self.same = QCheckBox("The same snapshots as on this computer")
        self.same.setObjectName("remote-keep-same")
        self.same.toggled.connect(self._toggled)
        self.editor = RetentionEditor(
            service,
            intro=(
                "Which snapshots this remote keeps. Lifeboat deletes the others there "
                "after each upload; pinned snapshots are always kept."
            ),
            preview=False,
        )
        self.editor.setObjectName("remote-keep")
        self.editor.changed.connect(self.changed)
        self.note = QLabel()
        self.note.setObjectName("remote-keep-note")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.same)
        layout.addWidget(self.editor)
        layout.addWidget(self.note)
        self._loading = False

    def load(self, keeps: list[str | None]) -> None:
        """`keeps`: the remote rules of each database uploading here (None: the same as
        on this computer)."""
        self._loading = True
        try:
            own = [k for k in keeps if k]
            self.same.setChecked(not own)
            self.editor.set_keep(own[0] if own else DEFAULT_OWN_RULES, None)
            self.editor.setVisible(bool(own))
            self.setEnabled(bool(keeps))
            if not keeps:
                self.note.setText("No database uploads here yet: tick one above first.")
            elif len(set(keeps)) > 1:
                self.note.setText(
                    "The databases uploading here keep different snapshots there; "
                    "saving gives them all the rules shown."
                )
            else:
                self.note.setText("")
            self.note.setVisible(bool(self.note.text()))
        finally:
            self._loading = False

    def value(self) -> str | None:
        return None if self.same.isChecked() else self.editor.keep()

    def error(self) -> str | None:
        return None if self.same.isChecked() else self.editor.error()

    def _toggled(self, same: bool) -> None:
        self.editor.setVisible(not same)
        if not self._loading:
            self.changed.emit()
