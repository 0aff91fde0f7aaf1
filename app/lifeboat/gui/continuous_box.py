"""One source's continuous protection in Settings: the switch "Protect every change
(continuous)" and how much of that history stays restorable (continuous_keep).

A WAL database gets every commit (the capture follows the WAL); a rollback-journal
database gets the closest equivalent, a differential snapshot soon after each change,
which a note under the switch says. A database whose snapshots are kept encrypted here
gets its history sealed the same way (core/history/sealing.py). The switch is disabled,
with the reason, when the database cannot be read. A database already switched on keeps
its switch usable, so it can be turned off. The keep
field is checked as it is typed, in the dialog's own words; so are the two intervals
under it (continuous_intervals.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from lifeboat.core.history.windows import (
    DEFAULT_WINDOWS,
    WindowSpecError,
    parse_windows,
    windows_in_words,
)
from lifeboat.gui.continuous_intervals import IntervalFields
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.service.source_changes import wal_mode_of

JOURNAL_NOTE = (
    "This database uses a rollback journal, not WAL: Lifeboat keeps a snapshot soon after "
    "each change (by default at most one a minute) rather than every single change, and "
    "restores a moment from the last snapshot before it."
)
UNREADABLE_REASON = "The database cannot be read now, so Lifeboat cannot tell its journal mode."
WHAT_IT_DOES = (
    "While Lifeboat runs, each change saved to the database is kept within a second, so "
    "you can restore it as it was at any moment. The history takes disk space."
)


FIRST_RUN_NOTE = (
    "Databases in WAL mode are also protected continuously: while Lifeboat runs, every "
    "change is kept, so you can go back to any moment. Settings can turn it off."
)


def protected_continuously_by_default(path: Path) -> bool:
    """Whether a database added in the tray (first run, "Add database…") starts with
    continuous protection: yes for a WAL database. Desktop users lose data by their own
    hand and notice within minutes, which a daily snapshot cannot undo; the CLI's
    `source add` stays opt-in (scripts and servers; the history takes disk space).
    README "Continuous protection" says why."""
    return wal_mode_of(path) is True


def keep_problem(text: str) -> str | None:
    """What is wrong with a typed history keep, in the dialog's words (None: nothing)."""
    try:
        parse_windows(text)
    except WindowSpecError as exc:
        said = str(exc)
        if said.startswith("empty history spec"):
            return f"say how long changes stay restorable, like “{DEFAULT_WINDOWS}”"
        return said.replace(" in history spec", "").replace("history spec", "this field")
    return None


def kind_note(wal_mode: bool | None) -> str | None:
    """What continuous protection a database that is not in WAL mode gets (None: every
    change, or its mode is unknown)."""
    return JOURNAL_NOTE if wal_mode is False else None


def switch_refusal(wal_mode: bool | None, encrypt_local: bool) -> str | None:
    """Why continuous protection cannot be switched on (None: it can)."""
    del encrypt_local  # its history is sealed like its snapshots: no reason to refuse
    if wal_mode is None:
        return UNREADABLE_REASON
    return None


class ContinuousBox(QWidget):
    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.switch = QCheckBox("Protect every change (continuous)")
        self.switch.setObjectName("continuous")
        self.why_not = QLabel()
        self.why_not.setObjectName("continuous-why-not")
        self.why_not.setWordWrap(True)
        self.why_not.setEnabled(False)
        what = QLabel(WHAT_IT_DOES)
        what.setWordWrap(True)
        what.setEnabled(False)
        self.keep = QLineEdit()
        self.keep.setObjectName("continuous-keep")
        self.keep.setPlaceholderText(DEFAULT_WINDOWS)
        self.keep.setToolTip(
            "How far back every change, then one an hour, then one a day stays "
            "restorable, like " + DEFAULT_WINDOWS
        )
        self.error = QLabel()
        self.error.setObjectName("error-continuous")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        row = QHBoxLayout()
        row.setContentsMargins(24, 0, 0, 0)
        row.addWidget(QLabel("Keep:"))
        row.addWidget(self.keep, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.switch)
        layout.addWidget(self.why_not)
        layout.addWidget(what)
        layout.addLayout(row)
        #: what the keep means, in words (the preview of the history's retention)
        self.meaning = QLabel()
        self.meaning.setObjectName("continuous-keep-meaning")
        self.meaning.setWordWrap(True)
        self.meaning.setContentsMargins(24, 0, 0, 0)
        layout.addWidget(self.meaning)
        layout.addWidget(self.error)
        #: how often a rollback-journal database is captured, and the history sent
        self.intervals = IntervalFields()
        layout.addWidget(self.intervals)
        self.intervals.error.setContentsMargins(24, 0, 0, 0)
        layout.addWidget(self.intervals.error)
        self.intervals.changed.connect(self.changed.emit)
        self._refusal: str | None = None
        self._note: str | None = None
        self.switch.toggled.connect(self._switched)
        self.keep.textEdited.connect(lambda _t: self._keep_edited())

    def load(self, on: bool, keep: str, refusal: str | None, note: str | None = None) -> None:
        """Show a source's settings; `refusal`: why it cannot be switched on; `note`:
        what it gets when it can (kind_note). Its intervals: `load_intervals`."""
        self._refusal, self._note = refusal, note
        self.switch.blockSignals(True)
        self.switch.setChecked(on)
        self.switch.blockSignals(False)
        self.keep.setText(keep)
        self._update()

    def load_intervals(
        self, every: str, upload_every: str, *, journal: bool, remote: str | None
    ) -> None:
        """`continuous_every` (shown for a rollback-journal database) and
        `continuous_upload_every` (shown for a source with a remote)."""
        self.intervals.load(every, upload_every, journal, remote)
        self._update()

    def allow(self, refusal: str | None) -> None:
        """The reason changed (local encryption switched): a switch that may not be on
        is turned off."""
        self._refusal = refusal
        if refusal is not None and self.switch.isChecked():
            self.switch.setChecked(False)
        self._update()

    @property
    def on(self) -> bool:
        return self.switch.isChecked()

    def keep_spec(self) -> str:
        return ", ".join(p.strip() for p in self.keep.text().split(",") if p.strip()) or (
            DEFAULT_WINDOWS
        )

    def problem(self) -> str | None:
        if not self.on or not self.keep.text().strip():
            return None  # an empty field keeps the default
        return keep_problem(self.keep.text())

    def interval_specs(self, every: str, upload_every: str) -> tuple[str, str]:
        """The intervals typed; while switched off, the ones given (what it had) stay."""
        return self.intervals.specs() if self.on else (every, upload_every)

    def interval_problem(self) -> str | None:
        return self.intervals.problem() if self.on else None

    def show_problem(self, problem: str | None) -> None:
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)

    def _keep_edited(self) -> None:
        self._update()
        self.changed.emit()

    def _switched(self, _on: bool) -> None:
        self._update()
        self.changed.emit()

    def _update(self) -> None:
        # switched on already: it stays usable, so it can be turned off
        self.switch.setEnabled(self._refusal is None or self.switch.isChecked())
        said = self._refusal or self._note
        self.why_not.setText(said or "")
        self.why_not.setVisible(said is not None)
        self.keep.setEnabled(self.switch.isChecked())
        self.intervals.setEnabled(self.switch.isChecked())
        meaning = None
        if self.switch.isChecked():
            with contextlib.suppress(WindowSpecError):
                policy = parse_windows(self.keep_spec())
                meaning = f"Restorable: {windows_in_words(policy)}."
        self.meaning.setText(meaning or "")
        self.meaning.setVisible(meaning is not None)
