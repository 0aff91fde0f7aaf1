"""'Custom' starts from the schedule the form shows, written as text."""

from __future__ import annotations

from datetime import UTC

from PySide6.QtCore import QTime

from lifeboat.gui.schedule_editor import KINDS, ScheduleEditor

CUSTOM = [k for k, _ in KINDS].index("custom")


def test_custom_starts_from_the_schedule_chosen_with_the_plain_controls(qtbot):
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_spec("daily 03:00")
    editor.kind.setCurrentIndex([k for k, _ in KINDS].index("weekly"))
    for index, button in enumerate(editor.days):
        button.setChecked(index in (0, 3))
    editor.at.setTime(QTime(4, 30))
    editor.kind.setCurrentIndex(CUSTOM)
    assert editor.custom.text() == "weekly mon,thu 04:30"
    assert editor.custom_row.isVisibleTo(editor)
    assert editor.spec() == "weekly mon,thu 04:30" and editor.error() is None
    editor.custom.setText("weekly mon,thu 05:00")
    assert editor.spec() == "weekly mon,thu 05:00"


def test_custom_starts_from_the_saved_schedule_as_written(qtbot):
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_spec("hourly")  # shown as every 1 hour, kept as written
    editor.kind.setCurrentIndex(CUSTOM)
    assert editor.custom.text() == "hourly"
    editor.set_spec("every 2h")
    editor.every.setValue(3)
    editor.kind.setCurrentIndex(CUSTOM)
    assert editor.custom.text() == "every 3h"
