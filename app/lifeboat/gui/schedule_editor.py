"""A schedule with plain controls: every N minutes/hours/days, daily, weekly, monthly,
by hand only, or a custom spec (cron), with the next run times shown.

It produces the same schedule specs the config file and the CLI take ("daily 03:00",
"weekly mon,thu 03:00", ...); parsing and run times come from core.schedule (pure
functions).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTimeEdit,
    QToolButton,
    QWidget,
)

from lifeboat.core.schedule import DAY_NAMES, ScheduleError, parse_schedule
from lifeboat.core.schedule_times import next_runs

KINDS = (
    ("interval", "Every few minutes or hours"),
    ("daily", "Every day"),
    ("weekly", "Every week"),
    ("monthly", "Every month"),
    ("manual", "Only when I ask"),
    ("custom", "Custom (written as text, or cron)"),
)
UNITS = (("m", "minutes"), ("h", "hours"), ("d", "days"))
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ERROR_STYLE = "color: #c5221f;"


class ScheduleEditor(QWidget):
    changed = Signal()

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tz = tz
        self._original = ""
        self._edited = False
        self._loading = False
        self._shown_kind = "daily"  # the kind the controls showed before the last edit
        self._build()
        self.set_spec("daily 03:00")

    def _build(self) -> None:
        self._build_controls()
        self._lay_out()
        self._connect_edits()

    def _build_controls(self) -> None:
        self.kind = QComboBox()
        self.kind.setObjectName("schedule-kind")
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.every = QSpinBox()
        self.every.setObjectName("schedule-every")
        self.every.setRange(1, 999)
        self.every.setValue(1)
        self.unit = QComboBox()
        self.unit.setObjectName("schedule-unit")
        for key, label in UNITS:
            self.unit.addItem(label, key)
        self.unit.setCurrentIndex(1)
        self.at = QTimeEdit()
        self.at.setObjectName("schedule-time")
        self.at.setDisplayFormat("HH:mm")
        self.days: list[QToolButton] = []
        for index, label in enumerate(DAY_LABELS):
            button = QToolButton()
            button.setObjectName(f"schedule-day-{DAY_NAMES[index]}")
            button.setText(label)
            button.setCheckable(True)
            self.days.append(button)
        self.day_of_month = QSpinBox()
        self.day_of_month.setObjectName("schedule-day-of-month")
        self.day_of_month.setRange(1, 31)
        self.custom = QLineEdit()
        self.custom.setObjectName("schedule-custom")
        self.custom.setPlaceholderText('cron "0 3 * * 1-5"')
        self.next_label = QLabel()
        self.next_label.setObjectName("schedule-next")
        self.next_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("schedule-error")
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)

    def _lay_out(self) -> None:
        """The kind on top, then the rows for its settings (only those of the kind show),
        the problem and the next run times."""
        self.every_row = _row(QLabel("Every"), self.every, self.unit)
        self.time_row = _row(QLabel("At"), self.at)
        self.days_row = _row(QLabel("On"), *self.days)
        self.month_row = _row(
            QLabel("On day"),
            self.day_of_month,
            QLabel("of the month (29-31: the last day in shorter months)"),
        )
        self.custom_row = _row(self.custom)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.kind, 0, 0)
        grid.addWidget(self.every_row, 1, 0)
        grid.addWidget(self.days_row, 2, 0)
        grid.addWidget(self.month_row, 3, 0)
        grid.addWidget(self.time_row, 4, 0)
        grid.addWidget(self.custom_row, 5, 0)
        grid.addWidget(self.error_label, 6, 0)
        grid.addWidget(self.next_label, 7, 0)

    def _connect_edits(self) -> None:
        self.kind.currentIndexChanged.connect(self._edit)
        self.every.valueChanged.connect(self._edit)
        self.unit.currentIndexChanged.connect(self._edit)
        self.at.timeChanged.connect(self._edit)
        self.day_of_month.valueChanged.connect(self._edit)
        self.custom.textChanged.connect(self._edit)
        for button in self.days:
            button.toggled.connect(self._edit)

    def hasHeightForWidth(self) -> bool:
        # Its wrapping next-runs line made Qt's form-in-a-scroll-area ask for a height
        # per width it underestimates: the rows squeezed into each other. Its size hint
        # (the lines at the form's width) holds instead.
        return False

    # -- the value -----------------------------------------------------------------------

    def set_spec(self, spec: str) -> None:
        """Show a spec (the plain controls where they can show it, else as custom)."""
        self._loading = True
        try:
            self._original = spec
            self._edited = False
            try:
                schedule = parse_schedule(spec)
            except ScheduleError:
                schedule = None
            kind = schedule.kind if schedule else "custom"
            self.custom.setText(spec)
            if schedule is not None:
                self.at.setTime(QTime(schedule.hour, schedule.minute))
                weekdays = schedule.weekdays or (0,)  # Monday, should the user pick weekly
                for index, button in enumerate(self.days):
                    button.setChecked(index in weekdays)
                if schedule.day:
                    self.day_of_month.setValue(schedule.day)
            if kind == "hourly":
                kind = "interval"
                self._set_interval(3600)
            elif kind == "interval" and schedule is not None:
                if schedule.seconds % 60:
                    kind = "custom"
                else:
                    self._set_interval(schedule.seconds)
            elif kind == "cron":
                kind = "custom"
            self.kind.setCurrentIndex([k for k, _ in KINDS].index(kind))
            self._shown_kind = kind
        finally:
            self._loading = False
        self._update()

    def spec(self) -> str:
        """The spec as edited (the original text if nothing was changed)."""
        if not self._edited:
            return self._original
        return self._spec_of(self.kind.currentData())

    def _spec_of(self, kind: str) -> str:
        """The spec the controls of `kind` say."""
        at = self.at.time().toString("HH:mm")
        if kind == "interval":
            return f"every {self.every.value()}{self.unit.currentData()}"
        if kind == "daily":
            return f"daily {at}"
        if kind == "weekly":
            days = ",".join(DAY_NAMES[i] for i, b in enumerate(self.days) if b.isChecked())
            return f"weekly {days} {at}"
        if kind == "monthly":
            return f"monthly {self.day_of_month.value()} {at}"
        if kind == "manual":
            return "manual"
        return self.custom.text().strip()

    def error(self) -> str | None:
        """Why the current value cannot be saved, or None."""
        if (
            self._edited
            and self.kind.currentData() == "weekly"
            and not any(b.isChecked() for b in self.days)
        ):
            return "choose at least one day"
        try:
            parse_schedule(self.spec())
        except ScheduleError as exc:
            return str(exc)
        return None

    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    # -- internals -----------------------------------------------------------------------

    def _set_interval(self, seconds: int) -> None:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                self.unit.setCurrentIndex([u for u, _ in UNITS].index(unit))
                self.every.setValue(seconds // size)
                return

    def _edit(self) -> None:
        if self._loading:
            return
        kind = self.kind.currentData()
        if kind == "custom" and self._shown_kind != "custom":
            self._start_custom_from(self._shown_kind)
        self._shown_kind = kind
        self._edited = True
        self._update()
        self.changed.emit()

    def _start_custom_from(self, kind: str) -> None:
        """Custom starts from the schedule the form showed, written as text."""
        spec = self._spec_of(kind) if self._edited else self._original
        self._loading = True
        try:
            self.custom.setText(spec)
        finally:
            self._loading = False

    def _update(self) -> None:
        kind = self.kind.currentData()
        self.every_row.setVisible(kind == "interval")
        self.days_row.setVisible(kind == "weekly")
        self.month_row.setVisible(kind == "monthly")
        self.time_row.setVisible(kind in ("daily", "weekly", "monthly"))
        self.custom_row.setVisible(kind == "custom")
        problem = self.error()
        self.show_error(problem)
        if problem:
            self.next_label.setText("")
            return
        schedule = parse_schedule(self.spec())
        if schedule.is_manual:
            self.next_label.setText("Backed up only when you click Back up now.")
            return
        runs = next_runs(schedule, self.tz, datetime.now(UTC), 3)
        described = schedule.describe()
        self.next_label.setText(
            f"{described[0].upper()}{described[1:]}.\nNext: "
            + ", ".join(r.strftime("%a %d %b %H:%M") for r in runs)
        )


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return row
