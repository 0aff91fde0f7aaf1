"""History's Drills tab: each drill from the job records, with when, which snapshots,
the outcome in words and how long it took; filtered by database like the other tabs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from lifeboat.core.catalog_records import JobRecord
from lifeboat.foundation.states import JobStatus
from lifeboat.gui.app import TrayApp
from lifeboat.gui.history_drills import outcome_text, snapshots_text
from lifeboat.gui.text import short_time
from lifeboat.service import Service
from tests.gui.test_history_dialog import open_history


def rows(dialog) -> list[dict[str, str]]:
    view = dialog.drill_view
    titles = [view.headerData(c, Qt.Orientation.Horizontal) for c in range(view.columnCount())]
    return [
        {titles[c]: view.index(r, c).data() for c in range(view.columnCount())}
        for r in range(view.rowCount())
    ]


def test_drills_are_listed_with_their_outcome_in_words(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    good = service.backup("notes")
    service.drill("notes")
    bad = service.backup("crm")
    data = bytearray(bad.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.path.write_bytes(bytes(data))
    service.drill("crm")
    dialog = open_history(qtbot, tray_app)
    dialog.tabs.setCurrentWidget(dialog.drills_tab)
    assert [dialog.tabs.tabText(i) for i in range(3)] == ["S&napshots", "&Jobs", "Dr&ills"]
    shown = rows(dialog)
    assert [r["Database"] for r in shown] == ["crm", "notes"], "newest first"
    assert shown[1]["Outcome"] == "Passed: 1 snapshot restored and checked"
    assert shown[1]["Snapshots restored"] == short_time(good.manifest.created_at)
    assert shown[1]["Took"].endswith(" s")
    assert shown[0]["Outcome"].startswith("Failed: ")
    dialog.show_source("notes")
    assert [r["Database"] for r in rows(dialog)] == ["notes"]


def job(status: str, detail: str | None = None, error: str | None = None) -> JobRecord:
    return JobRecord(
        id=1,
        kind="drill",
        source="notes",
        trigger="scheduled",
        status=JobStatus(status),
        queued_at="2024-03-01T04:00:00Z",
        started_at="2024-03-01T04:00:00Z",
        finished_at="2024-03-01T04:00:03Z",
        attempt=1,
        error=error,
        snapshot_id=None,
        detail=detail,
        pid=None,
        cancel_requested=False,
    )


CHECK = (
    '{"checks": [{"snapshot_id": "a1", "created_at": "2024-02-29T03:00:00+00:00", '
    '"copy": "offsite", "ok": false, "problem": "database disk image is malformed", '
    '"seconds": 1.5}]}'
)


def test_outcomes_in_words():
    assert outcome_text(job("failed", CHECK)) == "Failed: database disk image is malformed"
    assert outcome_text(job("failed", None, "no snapshot to test\nmore")) == (
        "Failed: no snapshot to test"
    )
    assert outcome_text(job("cancelled")) == "Cancelled: no verdict"
    assert outcome_text(job("interrupted")) == "Interrupted (Lifeboat stopped): no verdict"
    assert snapshots_text(job("failed", CHECK)).endswith("(from offsite)")
    assert snapshots_text(job("running")) == "–"
