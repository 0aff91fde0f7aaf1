"""The two intervals of continuous protection in Settings, under its switch:

- "Snapshot after a change at most every" (`continuous_every`): shown for a
  rollback-journal database, which is captured by a differential soon after each change;
- "Send the history to <remote> every" (`continuous_upload_every`): shown for a source
  with a remote.

Each is checked as it is typed by the very rule `lifeboat source set` uses
(core/config_values.every_value: a length of time from 1 second to 1 day), said in the
dialog's words; an empty field keeps the default.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QLineEdit, QWidget

from lifeboat.core.config_model import DEFAULT_EVERY, DEFAULT_UPLOAD_EVERY
from lifeboat.core.config_values import every_value
from lifeboat.core.schedule_durations import parse_duration, spec_in_words
from lifeboat.gui.schedule_editor import ERROR_STYLE

EVERY_LABEL = "Snapshot after a change at most every:"
UPLOAD_LABEL = "Send the history to {remote} every:"
EVERY_TIP = (
    "A rollback-journal database is copied soon after each change, at most this often: "
    "shorter loses less work, longer costs less (default 1 minute)."
)
UPLOAD_TIP = (
    "How often new history goes to the remote while the database changes; nothing is "
    "sent while it does not (default 10 seconds)."
)


def interval_problem(text: str) -> str | None:
    """What is wrong with a typed interval, in the dialog's words, short enough for one
    line under the field (None: nothing; an empty field keeps the default)."""
    typed = text.strip()
    if not typed:
        return None
    try:
        every_value(typed)
    except ValueError:
        try:
            seconds = parse_duration(typed).total_seconds()
        except ValueError:
            return f"“{typed}”: write a length of time, like 30 seconds"
        if seconds < 1:
            return f"“{typed}” is too short: at least 1 second"
        return f"“{typed}” is too long: at most 1 day"
    return None


def interval_spec(text: str, default: str) -> str:
    """The interval as saved ('2 minutes' is '2m'; empty: the default)."""
    if not text.strip():
        return default
    try:
        return every_value(text)
    except ValueError:
        return text.strip()  # not saved: its problem is shown


class IntervalFields(QWidget):
    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.every = _field("continuous-every", EVERY_TIP, spec_in_words(DEFAULT_EVERY))
        self.upload_every = _field(
            "continuous-upload-every", UPLOAD_TIP, spec_in_words(DEFAULT_UPLOAD_EVERY)
        )
        self.every_label = QLabel(EVERY_LABEL)
        self.upload_label = QLabel(UPLOAD_LABEL.format(remote="its remote"))
        self.error = QLabel()
        self.error.setObjectName("error-continuous-intervals")
        self.error.setStyleSheet(ERROR_STYLE)
        # one line (the messages are short): the form is laid out by size hints, and a
        # wrapped label's hint is short of its lines (source_form.py)
        self.error.setWordWrap(False)
        self.error.hide()
        grid = QGridLayout(self)
        grid.setContentsMargins(24, 0, 0, 0)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.every_label, 0, 0)
        grid.addWidget(self.every, 0, 1)
        grid.addWidget(self.upload_label, 1, 0)
        grid.addWidget(self.upload_every, 1, 1)
        grid.setColumnStretch(1, 1)
        # `error` goes under these fields, in the enclosing box's column (the box adds it)
        for field in (self.every, self.upload_every):
            field.textEdited.connect(lambda _t: self._edited())

    def load(self, every: str, upload_every: str, journal: bool, remote: str | None) -> None:
        """A source's intervals; the first shown for a rollback-journal database, the
        second for one with a remote (named)."""
        self.every.setText(spec_in_words(every))
        self.upload_every.setText(spec_in_words(upload_every))
        for widget in (self.every_label, self.every):
            widget.setVisible(journal)
        self.upload_label.setText(UPLOAD_LABEL.format(remote=remote or "its remote"))
        for widget in (self.upload_label, self.upload_every):
            widget.setVisible(remote is not None)
        self.setVisible(journal or remote is not None)
        self.show_problem(self.problem())

    def specs(self) -> tuple[str, str]:
        """(continuous_every, continuous_upload_every) as saved."""
        return (
            interval_spec(self.every.text(), DEFAULT_EVERY),
            interval_spec(self.upload_every.text(), DEFAULT_UPLOAD_EVERY),
        )

    def problem(self) -> str | None:
        for field in (self.every, self.upload_every):
            if not field.isHidden() and (found := interval_problem(field.text())) is not None:
                return found
        return None

    def show_problem(self, problem: str | None) -> None:
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)

    def _edited(self) -> None:
        self.show_problem(self.problem())
        self.changed.emit()


def _field(name: str, tip: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(name)
    field.setToolTip(tip)
    field.setPlaceholderText(placeholder)
    return field
