"""History's Drills tab: each restore drill (a test restore of snapshots into a
temporary folder, run on the drill schedule or by hand), from the job records: when,
which database and snapshots, the outcome in words, and how long it took."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lifeboat.core.catalog_records import JobRecord
from lifeboat.gui.history_models import (
    Column,
    RecordTable,
    SourceFilter,
    parse_time,
    took,
    took_text,
    when_text,
)
from lifeboat.gui.history_tabs import make_table
from lifeboat.gui.text import plural, short_time


def drill_jobs(jobs: list[JobRecord]) -> list[JobRecord]:
    return [j for j in jobs if j.kind == "drill"]


def checks(job: JobRecord) -> list[dict[str, object]]:
    """The drill's checks (one per snapshot restored) from its record."""
    if not job.detail:
        return []
    try:
        found = json.loads(job.detail).get("checks", [])
    except (ValueError, AttributeError):
        return []
    return [c for c in found if isinstance(c, dict)]


def _taken(check: dict[str, object]) -> str:
    moment = parse_time(str(check.get("created_at") or ""))
    when = short_time(moment) if moment else str(check.get("snapshot_id"))
    if isinstance(check.get("point"), dict):  # a moment drawn: what it restored is of then
        when = f"the point of {when}"
    copy = check.get("copy")
    return when if copy in (None, "local") else f"{when} (from {copy})"


def snapshots_text(job: JobRecord) -> str:
    """Which snapshots it restored: their times, and the remote a copy came from."""
    return ", ".join(_taken(c) for c in checks(job)) or "–"


def outcome_text(job: JobRecord) -> str:
    """The outcome in words."""
    done = checks(job)
    if job.status == "ok":
        return f"Passed: {plural(len(done), 'snapshot')} restored and checked"
    if job.status == "failed":
        failed = [c for c in done if not c.get("ok")]
        if failed:
            problem = str(failed[0].get("problem") or "it did not check out")
            return f"Failed: {problem}"
        return f"Failed: {(job.error or 'it could not run').splitlines()[0]}"
    return {
        "queued": "Waiting to run",
        "running": "Running…",
        "cancelled": "Cancelled: no verdict",
        "interrupted": "Interrupted (Lifeboat stopped): no verdict",
        "skipped": "Skipped: nothing to test",
    }.get(str(job.status), str(job.status))


class DrillTable(RecordTable[JobRecord]):
    columns = (
        Column("When", when_text, key=lambda j: j.id),
        Column("Database", lambda j: j.source or "–"),
        Column("Snapshots restored", snapshots_text),
        Column("Outcome", outcome_text, tip=lambda j: j.error or outcome_text(j)),
        Column("Took", took_text, key=took, right=True),
    )

    def row_id(self, row: JobRecord) -> object:
        return row.id

    def row_source(self, row: JobRecord) -> str | None:
        return row.source

    def set_jobs(self, jobs: list[JobRecord]) -> None:
        self.set_rows(drill_jobs(jobs))


class DrillsTab(QWidget):
    """The drills, newest first once loaded, with a line saying what a drill is."""

    def __init__(self, view: SourceFilter, drills: DrillTable) -> None:
        super().__init__()
        self.drills = drills
        self.table = make_table(view, "drill-table")
        self.note = QLabel(
            "A drill restores snapshots into a temporary folder and checks the database "
            "inside, to prove a restore would work. Settings sets when each database's "
            "drills run."
        )
        self.note.setObjectName("drill-note")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
