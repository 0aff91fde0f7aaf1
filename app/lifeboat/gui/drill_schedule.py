"""When a database's restore drills run: a box for Settings' database form.

A drill restores snapshots into a temporary folder and checks them, proving that a
restore would work. Each database has its own drill schedule (the config's `drill`,
"weekly sun 04:00" unless set). The box reuses the backup schedule's editor
(schedule_editor.py), where "only when I ask" reads "Never": no part of the tray runs
a drill by hand.

How the database form includes it (gui/source_form.py):
    self.drills = DrillScheduleBox(tz)
    form.addRow("Restore drills:", self.drills)    # below the backup schedule
    self.drills.changed.connect(self._edit)
    self.drills.set_spec(source.drill)             # when a database is shown
    values["drill"] = self.drills.spec()           # what is saved (`update_source`)
    problems["drill"] = self.drills.error()        # checked like the schedule
SourceDraft (service/source_changes.py) needs a `drill` field carried through `of` and
`values` for the form to save it.
"""

from __future__ import annotations

from datetime import tzinfo

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from lifeboat.gui.schedule_editor import KINDS, ScheduleEditor

NEVER = "Never"
NO_DRILLS = "Restores are not tested automatically."


class DrillScheduleEditor(ScheduleEditor):
    """The schedule editor, worded for drills."""

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(tz, parent)
        self.setObjectName("drill-schedule")
        self.kind.setItemText([k for k, _ in KINDS].index("manual"), NEVER)

    def _update(self) -> None:
        super()._update()
        if self.kind.currentData() == "manual" and self.error() is None:
            self.next_label.setText(NO_DRILLS)


class DrillScheduleBox(DrillScheduleEditor):
    """The "Restore drills" row: the schedule they run on, and under it what they are.
    One grid with the editor's own rows (a nested layout let the form squeeze it)."""

    def __init__(self, tz: tzinfo, parent: QWidget | None = None) -> None:
        super().__init__(tz, parent)
        self.setObjectName("drill-box")
        note = QLabel(
            "A drill restores snapshots into a temporary folder and checks them, to prove "
            "that a restore would work. History lists each drill and its outcome."
        )
        note.setWordWrap(True)
        note.setEnabled(False)  # an explanation, in the form's quieter grey
        grid = self.layout()
        assert isinstance(grid, QGridLayout)
        grid.addWidget(note, grid.rowCount(), 0)

    @property
    def editor(self) -> DrillScheduleEditor:
        return self
