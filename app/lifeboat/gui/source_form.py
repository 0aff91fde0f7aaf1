"""One source's settings in the Settings dialog: file, name (the display name; the safe
name files use is derived from it and shown small), where its backups go
(backup_folder_row.py), schedule, check, overdue alarm (typed as people say it: "2
days"), whether its snapshots are kept encrypted on this machine, and continuous protection
(continuous_box.py). Problems are shown
under the field they concern."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import tzinfo
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
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

from lifeboat.core.schedule import ScheduleError, parse_schedule
from lifeboat.core.schedule_durations import (
    duration_words,
    format_duration,
    parse_duration,
    spec_in_words,
)
from lifeboat.core.schedule_times import stale_after
from lifeboat.gui.backup_folder_row import BackupFolderRow
from lifeboat.gui.continuous_box import ContinuousBox, keep_problem, kind_note, switch_refusal
from lifeboat.gui.drill_schedule import DrillScheduleBox
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.recovery_key import RecoveryKeyDialog, request_saved_key
from lifeboat.gui.schedule_editor import ERROR_STYLE, ScheduleEditor
from lifeboat.service import Service
from lifeboat.service.source_changes import SourceDraft, wal_mode_of
from lifeboat.service.sources import safe_source_name

CHECKS = (
    ("quick", "Quick check (fast; finds most damage)"),
    ("full", "Full integrity check (slower; finds everything)"),
)


class SourceForm(QWidget):
    changed = Signal()
    #: the snapshots of source `name` were moved to a folder, already saved: (name, Path)
    moved = Signal(str, object)

    def __init__(self, tz: tzinfo, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.recovery: RecoveryKeyDialog | None = None
        self.draft: SourceDraft | None = None
        #: the source names a new one must not take (the dialog's other databases)
        self.names_taken: Callable[[], Collection[str]] = lambda: ()
        self._loading = False
        self._build_fields(tz)
        self._lay_out()
        self._connect_edits()

    # In Settings it scrolls: Qt's height-for-width of a form with wrapping lines comes
    # out short there and squeezed its rows into each other. Its full height (the size
    # hint at its width) is what it needs; the scroll area scrolls the rest.
    def hasHeightForWidth(self) -> bool:
        return False

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())

    def _build_fields(self, tz: tzinfo) -> None:
        self.path = QLabel()
        self.path.setObjectName("source-path")
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setObjectName("source-name")
        self.name.setMaxLength(100)
        self.safe_name = QLabel()
        self.safe_name.setObjectName("source-safe-name")
        self.safe_name.setEnabled(False)
        self.safe_name.setWordWrap(True)
        self.folder = BackupFolderRow(self.service)
        self.schedule = ScheduleEditor(tz)
        self.drills = DrillScheduleBox(tz)
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
        self.stale_after.setPlaceholderText("2 days")
        self.stale_after.setMaximumWidth(120)
        self.stale_after.setToolTip(
            "How long without a good backup, like 2 days, 36 hours or 1 week"
        )
        self.encrypt_local = QCheckBox("Keep its snapshots encrypted (age)")
        self.encrypt_local.setObjectName("encrypt-local")
        self.continuous = ContinuousBox()
        self._wal_mode: bool | None = None  # the shown database's, read when loaded
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
        form.addRow("Name:", stacked(self.name, self.safe_name, self.errors["name"]))
        form.addRow("Backups go to:", self.folder)
        form.addRow("Back up:", self.schedule)
        form.addRow("Check each snapshot:", stacked(self.check, self.errors["check"]))
        form.addRow("Overdue alarm:", stale_box)
        form.addRow("Restore drills:", self.drills)
        form.addRow("Every change:", self.continuous)
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
        self.drills.changed.connect(self._edit)
        self.check.currentIndexChanged.connect(self._edit)
        self.stale_auto.toggled.connect(self._edit)
        self.stale_after.textChanged.connect(self._edit)
        self.encrypt_local.clicked.connect(self._encrypt_clicked)
        self.continuous.changed.connect(self._edit)
        self.folder.staged.connect(self._folder_staged)
        self.folder.moved.connect(self._folder_moved)

    def load(self, draft: SourceDraft, problems: dict[str, str]) -> None:
        self._loading = True
        try:
            self.draft = draft
            self.path.setText(str(draft.path))
            self.name.setText(draft.title)
            self.name.setPlaceholderText(draft.name)
            self.schedule.set_spec(draft.schedule)
            self.drills.set_spec(draft.drill)
            self.check.setCurrentIndex(
                max(
                    0,
                    [k for k, _ in CHECKS].index(draft.check) if draft.check in dict(CHECKS) else 0,
                )
            )
            custom = draft.stale_after is not None
            self.stale_auto.setChecked(not custom)
            self.stale_custom.setChecked(custom)
            self.stale_after.setText(spec_in_words(draft.stale_after or ""))
            self.encrypt_local.setChecked(draft.encrypt_local)
            self._wal_mode = wal_mode_of(draft.path)  # its header only
            self.continuous.load(
                draft.continuous,
                draft.continuous_keep,
                switch_refusal(self._wal_mode, draft.encrypt_local),
                kind_note(self._wal_mode),
            )
            self.continuous.load_intervals(
                draft.continuous_every,
                draft.continuous_upload_every,
                journal=self._wal_mode is False,
                remote=draft.remote,
            )
        finally:
            self._loading = False
        self.folder.load(draft)
        self._update_stale()
        self._update_safe_name()
        self.show_problems(problems)

    def current(self) -> SourceDraft:
        """The draft with this form's values."""
        assert self.draft is not None
        stale = self._stale_spec() if self.stale_custom.isChecked() else None
        every, upload_every = self.continuous.interval_specs(
            self.draft.continuous_every, self.draft.continuous_upload_every
        )
        title = " ".join(self.name.text().split())
        return replace(
            self.draft,
            name=self._source_name(title),
            display_name=title if title and title != self._source_name(title) else None,
            schedule=self.schedule.spec(),
            drill=self.drills.spec(),
            check=str(self.check.currentData()),
            stale_after=stale,
            encrypt_local=self.encrypt_local.isChecked(),
            continuous=self.continuous.on,
            continuous_keep=self._continuous_keep(),
            continuous_every=every,
            continuous_upload_every=upload_every,
        )

    def _continuous_keep(self) -> str:
        """The keep typed; while switched off, a keep that is not understood is not
        saved (the one it had stays)."""
        assert self.draft is not None
        spec = self.continuous.keep_spec()
        if not self.continuous.on and keep_problem(spec) is not None:
            return self.draft.continuous_keep
        return spec

    def problems(self) -> dict[str, str]:
        """What the form itself can tell is wrong (the dialog checks the rest)."""
        found = {}
        if (problem := self.schedule.error()) is not None:
            found["schedule"] = problem
        if (problem := self.drills.error()) is not None:
            found["drill"] = problem
        if self.stale_custom.isChecked():
            try:
                if not parse_duration(self.stale_after.text()):
                    found["stale_after"] = "the alarm needs a length of time longer than zero"
            except ValueError as exc:
                found["stale_after"] = str(exc)
        if (problem := self.continuous.problem()) is not None:
            found["continuous_keep"] = problem
        if (problem := self.continuous.interval_problem()) is not None:
            found["continuous_every"] = problem
        if self.draft is not None and self.draft.is_new and not self.name.text().strip():
            found["name"] = "give it a name"
        return found

    def _stale_spec(self) -> str:
        """The alarm as saved: '2 days' typed is '2d' (text that is not a length of time
        stays as typed: its problem is shown)."""
        text = self.stale_after.text().strip()
        try:
            return format_duration(parse_duration(text))
        except ValueError:
            return text

    def _source_name(self, title: str) -> str:
        """The safe name: a new source's from its display name, else the one it has."""
        assert self.draft is not None
        if not self.draft.is_new:
            return self.draft.name
        return safe_source_name(title or self.draft.path.stem, self.names_taken())

    def _update_safe_name(self) -> None:
        if self.draft is None:
            return
        name = self._source_name(" ".join(self.name.text().split()))
        self.safe_name.setText(f"Its snapshot files are named “{name}”.")

    def show_problems(self, problems: dict[str, str]) -> None:
        self.schedule.show_error(problems.get("schedule") or self.schedule.error())
        self.drills.show_error(problems.get("drill") or self.drills.error())
        problems = dict(problems)
        if "display_name" in problems:  # the field edits the display name
            problems.setdefault("name", problems.pop("display_name"))
        if "dest" in problems:
            problems.setdefault("path", "backups go to: " + problems.pop("dest"))
        for key, label in self.errors.items():
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)
        self.continuous.show_problem(problems.get("continuous_keep") or problems.get("continuous"))
        self.continuous.intervals.show_problem(
            problems.get("continuous_every") or problems.get("continuous_upload_every")
        )

    def _edit(self) -> None:
        if self._loading:
            return
        self._update_stale()
        self._update_safe_name()
        self.show_problems(self.problems())
        self.changed.emit()

    def _folder_staged(self, root: Path | None) -> None:
        """A folder chosen: saved with the rest."""
        if self.draft is None:
            return
        self.draft = replace(self.draft, dest=root)
        self.folder.load(self.draft)
        self._edit()

    def _folder_moved(self, name: str, root: Path) -> None:
        """The snapshots were moved and the folder saved: the draft says so too."""
        if self.draft is not None and self.draft.name == name:
            self.draft = replace(self.draft, dest=root, saved_dest=root)
            self.folder.load(self.draft)
        self.moved.emit(name, root)

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
            self.continuous.allow(switch_refusal(self._wal_mode, on))
            self._edit()

    def _update_stale(self) -> None:
        self.stale_after.setEnabled(self.stale_custom.isChecked())
        try:
            limit = stale_after(parse_schedule(self.schedule.spec()))
        except ScheduleError:
            limit = None
        self.stale_auto.setText(
            f"Automatic: after {duration_words(limit)} without a good backup"
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
