"""One source's settings in the Settings dialog: file, name, schedule, check, overdue
alarm, and whether its snapshots are kept encrypted on this machine. Problems are shown
under the field they concern."""

from __future__ import annotations

from dataclasses import replace
from datetime import tzinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.schedule import ScheduleError, format_duration, parse_duration, parse_schedule
from lifeboat.core.schedule_times import stale_after
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.recovery_key import RecoveryKeyDialog, request_saved_key
from lifeboat.gui.schedule_editor import ERROR_STYLE, ScheduleEditor
from lifeboat.service import Service
from lifeboat.service.source_changes import SourceDraft

CHECKS = (
    ("quick", "Quick check (fast; finds most damage)"),
    ("full", "Full integrity check (slower; finds everything)"),
)


class SourceForm(QWidget):
    changed = Signal()

    def __init__(self, tz: tzinfo, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.recovery: RecoveryKeyDialog | None = None
        self.draft: SourceDraft | None = None
        self._loading = False
        self._build_fields(tz)
        self._lay_out()
        self._connect_edits()

    def _build_fields(self, tz: tzinfo) -> None:
        self.path = QLabel()
        self.path.setObjectName("source-path")
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setObjectName("source-name")
        self.name.setMaxLength(64)
        self.schedule = ScheduleEditor(tz)
        self.check = QComboBox()
        self.check.setObjectName("source-check")
        for key, label in CHECKS:
            self.check.addItem(label, key)
        self.stale_auto = QRadioButton()
        self.stale_auto.setObjectName("stale-auto")
        self.stale_custom = QRadioButton("After")
        self.stale_custom.setObjectName("stale-custom")
        group = QButtonGroup(self)
        group.addButton(self.stale_auto)
        group.addButton(self.stale_custom)
        self.stale_after = QLineEdit()
        self.stale_after.setObjectName("stale-after")
        self.stale_after.setPlaceholderText("2d")
        self.stale_after.setMaximumWidth(90)
        self.stale_after.setToolTip("How long without a good backup: 90m, 12h, 2d, 1w")
        self.encrypt_local = QCheckBox("Keep its snapshots encrypted (age)")
        self.encrypt_local.setObjectName("encrypt-local")
        self.errors = {
            key: error_label(key)
            for key in ("path", "name", "check", "stale_after", "encrypt_local")
        }

    def _lay_out(self) -> None:
        """Each field with its problem under it."""
        stale_box = self._stale_box()
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Database file:", stacked(self.path, self.errors["path"]))
        form.addRow("Name:", stacked(self.name, self.errors["name"]))
        form.addRow("Back up:", self.schedule)
        form.addRow("Check each snapshot:", stacked(self.check, self.errors["check"]))
        form.addRow("Overdue alarm:", stale_box)
        sealed_hint = QLabel(
            "Whoever can read this disk cannot read them. Restores, checks "
            "and drills then need your key (or your recovery copy of it)."
        )
        sealed_hint.setWordWrap(True)
        sealed_hint.setEnabled(False)
        form.addRow(
            "On this computer:",
            stacked(self.encrypt_local, sealed_hint, self.errors["encrypt_local"]),
        )

    def _stale_box(self) -> QVBoxLayout:
        """The overdue alarm: automatic (from the schedule), or after a set time."""
        stale_row = QHBoxLayout()
        stale_row.addWidget(self.stale_custom)
        stale_row.addWidget(self.stale_after)
        stale_row.addWidget(QLabel("without a good backup"))
        stale_row.addStretch(1)
        stale_box = QVBoxLayout()
        stale_box.addWidget(self.stale_auto)
        stale_box.addLayout(stale_row)
        stale_box.addWidget(self.errors["stale_after"])
        return stale_box

    def _connect_edits(self) -> None:
        self.name.textChanged.connect(self._edit)
        self.schedule.changed.connect(self._edit)
        self.check.currentIndexChanged.connect(self._edit)
        self.stale_auto.toggled.connect(self._edit)
        self.stale_after.textChanged.connect(self._edit)
        self.encrypt_local.clicked.connect(self._encrypt_clicked)

    def load(self, draft: SourceDraft, problems: dict[str, str]) -> None:
        self._loading = True
        try:
            self.draft = draft
            self.path.setText(str(draft.path))
            self.name.setText(draft.name)
            self.name.setReadOnly(not draft.is_new)
            self.name.setToolTip(
                ""
                if draft.is_new
                else "The name of a source stays as it was when it was added "
                "(its snapshots are filed under it)"
            )
            self.schedule.set_spec(draft.schedule)
            self.check.setCurrentIndex(
                max(
                    0,
                    [k for k, _ in CHECKS].index(draft.check) if draft.check in dict(CHECKS) else 0,
                )
            )
            custom = draft.stale_after is not None
            self.stale_auto.setChecked(not custom)
            self.stale_custom.setChecked(custom)
            self.stale_after.setText(draft.stale_after or "")
            self.encrypt_local.setChecked(draft.encrypt_local)
        finally:
            self._loading = False
        self._update_stale()
        self.show_problems(problems)

    def current(self) -> SourceDraft:
        """The draft with this form's values."""
        assert self.draft is not None
        stale = self.stale_after.text().strip() if self.stale_custom.isChecked() else None
        return replace(
            self.draft,
            name=self.name.text().strip() if self.draft.is_new else self.draft.name,
            schedule=self.schedule.spec(),
            check=str(self.check.currentData()),
            stale_after=stale,
            encrypt_local=self.encrypt_local.isChecked(),
        )

    def problems(self) -> dict[str, str]:
        """What the form itself can tell is wrong (the dialog checks the rest)."""
        found = {}
        if (problem := self.schedule.error()) is not None:
            found["schedule"] = problem
        if self.stale_custom.isChecked():
            try:
                parse_duration(self.stale_after.text())
            except ValueError as exc:
                found["stale_after"] = str(exc)
        if self.draft is not None and self.draft.is_new and not self.name.text().strip():
            found["name"] = "give it a name"
        return found

    def show_problems(self, problems: dict[str, str]) -> None:
        self.schedule.show_error(problems.get("schedule") or self.schedule.error())
        for key, label in self.errors.items():
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)

    def _edit(self) -> None:
        if self._loading:
            return
        self._update_stale()
        self.show_problems(self.problems())
        self.changed.emit()

    def _encrypt_clicked(self, on: bool) -> None:
        """Undo the click: it turns on once a recovery key is saved, off once confirmed."""
        self.encrypt_local.setChecked(not on)
        draft = self.draft
        if draft is None:
            return
        if not on:
            if draft.is_new or not draft.saved_encrypt_local:
                self._set_encrypt_local(draft, False)
                return
            ask(
                self,
                "Stop encrypting?",
                f"Keep new snapshots of {draft.name} unencrypted on this computer?",
                "Whoever can read this disk can then read them. "
                "Snapshots already encrypted stay encrypted, and restorable with your key.",
                "Stop encrypting",
                lambda: self._set_encrypt_local(draft, False),
                danger=True,
            )
            return
        self.encrypt_local.setEnabled(False)
        request_saved_key(
            self,
            self.service,
            on_ready=lambda: self._set_encrypt_local(draft, True),
            on_cancel=lambda: self.encrypt_local.setEnabled(True),
            on_failed=self._key_failed,
            on_dialog=self._showing_recovery,
        )

    def _showing_recovery(self, dialog: RecoveryKeyDialog) -> None:
        self.encrypt_local.setEnabled(True)
        self.recovery = dialog

    def _key_failed(self, exc: BaseException) -> None:
        self.encrypt_local.setEnabled(True)
        show_error(self, exc, title="Encryption not switched on")

    def _set_encrypt_local(self, draft: SourceDraft, on: bool) -> None:
        self.encrypt_local.setEnabled(True)
        if self.draft is draft:  # still showing the source it was asked for
            self.encrypt_local.setChecked(on)
            self._edit()

    def _update_stale(self) -> None:
        self.stale_after.setEnabled(self.stale_custom.isChecked())
        try:
            limit = stale_after(parse_schedule(self.schedule.spec()))
        except ScheduleError:
            limit = None
        self.stale_auto.setText(
            f"Automatic: after {format_duration(limit)} without a good backup"
            if limit
            else "Automatic: none for a by-hand schedule"
        )


def error_label(key: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"error-{key}")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def stacked(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    for widget in widgets:
        layout.addWidget(widget)
    return box
