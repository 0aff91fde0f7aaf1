"""The drill schedule box (for Settings' database form): shows a database's drill
schedule, edits it with the schedule editor's plain controls, and what it produces is
what the service saves and the scheduler runs."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from lifeboat.gui.drill_schedule import NEVER, NO_DRILLS, DrillScheduleBox
from lifeboat.service import Service
from tests.helpers.databases import make_db


def test_shows_edits_and_saves_a_drill_schedule(qtbot, home: Path, tmp_path: Path):
    service = Service()
    service.add_source(make_db(tmp_path / "notes.db", rows=20), schedule="manual")
    box = DrillScheduleBox(UTC)
    qtbot.addWidget(box)
    box.show()
    editor = box.editor
    box.set_spec(service.source("notes").drill)  # the default: weekly on Sunday
    assert editor.kind.currentData() == "weekly"
    assert [b.isChecked() for b in editor.days] == [False] * 6 + [True]
    assert editor.at.time().toString("HH:mm") == "04:00"
    assert editor.next_label.text().startswith("Every Sunday at 04:00")
    assert box.spec() == "weekly sun 04:00" and box.error() is None

    with qtbot.waitSignal(box.changed):
        editor.kind.setCurrentIndex(editor.kind.findData("daily"))
    assert box.spec() == "daily 04:00"
    service.update_source("notes", drill=box.spec())
    assert service.source("notes").drill == "daily 04:00"

    editor.kind.setCurrentIndex(editor.kind.findData("manual"))
    assert editor.kind.currentText() == NEVER
    assert box.spec() == "manual" and editor.next_label.text() == NO_DRILLS

    editor.kind.setCurrentIndex(editor.kind.findData("custom"))
    editor.custom.setText("every blue moon")
    assert box.error() and editor.error_label.isVisible()
