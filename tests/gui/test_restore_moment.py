"""The restore wizard's "A moment in time", on a real continuous history (a writer and
the service's own Follower): the commits around a moment, one chosen, previewed and
restored to exactly the rows the writer had right after it; a moment in a gap refused
with the timeline's reason; the Changes column filled through its seam."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.results import CommitInfo
from lifeboat.gui.app import TrayApp
from lifeboat.gui.restore_moment import (
    MomentChooser,
    changes_text,
    commit_time_texts,
    moment_of,
)
from lifeboat.gui.restore_pages import MOMENT_TAB
from lifeboat.gui.restore_wizard import CONFIRM, RESULT, SNAPSHOT, TARGET, RestoreWizard
from lifeboat.service import Service
from tests.gui.test_restore_wizard import next_button
from tests.helpers.databases import make_db
from tests.helpers.followed import Followed, follow_with_gap

NAME = "notes"
FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def history(service: Service, tmp_path: Path) -> tuple[Path, Followed, list[CommitInfo]]:
    db = make_db(tmp_path / "notes.db", rows=30)
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    followed = follow_with_gap(service, NAME, db)
    # The history stays; the tray's capture thread is not to follow it meanwhile.
    service.update_source(NAME, continuous=False)
    return db, followed, service.commits_near(NAME, FAR, before=1000, after=0)


def rows(db: Path) -> frozenset[int]:
    conn = sqlite3.connect(db)
    try:
        return frozenset(r[0] for r in conn.execute("select id from items"))
    finally:
        conn.close()


def moment_page(qtbot, tray_app: TrayApp) -> tuple[RestoreWizard, MomentChooser]:
    tray_app.show_restore(NAME)
    wizard = tray_app._dialogs["restore"]
    assert isinstance(wizard, RestoreWizard) and wizard.currentId() == SNAPSHOT
    page = wizard.page(SNAPSHOT)
    qtbot.waitUntil(lambda: page.tabs.isTabVisible(MOMENT_TAB), timeout=15_000)
    page.tabs.setCurrentIndex(MOMENT_TAB)
    return wizard, page.moment


def test_choose_a_commit_preview_and_restore_exactly_its_rows(
    qtbot, make_tray, service: Service, history
):
    db, followed, every = history
    tray_app = make_tray()
    wizard, chooser = moment_page(qtbot, tray_app)
    assert "Any moment can be restored from " in chooser.spans.text()
    assert "Lifeboat was not running" in chooser.spans.text()
    qtbot.waitUntil(lambda: chooser.table.topLevelItemCount() == len(every), timeout=15_000)
    assert [c.time_us for c in chooser.commits] == [c.time_us for c in every]
    gap_row = chooser.table.topLevelItem(followed.gap_at)
    assert gap_row.text(3).startswith("after a gap")
    assert chooser.table.topLevelItem(3).text(1) == str(every[3].pages_changed)
    assert not chooser.table.isColumnHidden(1), "the tray counts rows: pages get their column"

    def filled() -> list[int]:
        return [r for r in range(len(every)) if chooser.table.topLevelItem(r).text(2) != "…"]

    qtbot.waitUntil(lambda: len(filled()) > 0, timeout=15_000)  # the rows in view
    for row in filled():
        said = changes_text(service.commit_changes(NAME, every[row].time_us))
        assert chooser.table.topLevelItem(row).text(2) == said
    inserts = changes_text(service.commit_changes(NAME, every[3].time_us))
    assert inserts.startswith("items: 1 added"), inserts
    wanted = 5  # "just before it went wrong": the last good commit
    chooser.table.setCurrentItem(chooser.table.topLevelItem(wanted))
    qtbot.waitUntil(lambda: chooser.choice is not None, timeout=15_000)
    assert chooser.choice.commit_time == moment_of(every[wanted].time_us)
    assert next_button(wizard).isEnabled()
    next_button(wizard).click()
    assert wizard.currentId() == TARGET and wizard.point is not None
    assert wizard.page(TARGET).in_place.isChecked()
    next_button(wizard).click()
    assert wizard.currentId() == CONFIRM
    summary = wizard.currentPage().text.text()
    assert "right after the change captured then" in summary and str(db) in summary
    preview = wizard.currentPage().preview
    qtbot.waitUntil(lambda: preview.text().startswith("Restoring "), timeout=20_000)
    removed = len(followed.states[-1] - followed.states[wanted])
    assert f"removes {removed} rows" in preview.text(), preview.text()
    next_button(wizard).click()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULT, timeout=30_000)
    assert wizard.currentPage().title() == "Restored", wizard.currentPage().text.text()
    assert "right after the change captured then" in wizard.currentPage().text.text()
    assert rows(db) == followed.states[wanted]


def test_a_moment_in_a_gap_is_refused_with_the_timelines_reason(qtbot, make_tray, history):
    _db, followed, every = history
    gap = followed.gap_at
    assert gap is not None
    before_us, after_us = every[gap - 1].time_us, every[gap].time_us
    assert after_us - before_us >= 3000, "the gap is wider than the picker's milliseconds"
    wizard, chooser = moment_page(qtbot, make_tray())
    qtbot.waitUntil(lambda: chooser.choice is not None, timeout=15_000)  # now: the newest
    middle = moment_of((before_us + after_us) // 2000 * 1000)
    chooser.choose_moment(middle)
    qtbot.waitUntil(lambda: chooser.refusal is not None, timeout=15_000)
    assert "nothing was captured between" in chooser.refusal
    assert "Lifeboat was not following it then" in chooser.refusal
    assert chooser.verdict.isVisible() and "cannot be restored" in chooser.verdict.text()
    assert not next_button(wizard).isEnabled()
    # the list still shows the commits around it: the last good one before the gap
    qtbot.waitUntil(lambda: chooser.table.topLevelItemCount() > 0, timeout=15_000)
    assert any(c.time_us == before_us for c in chooser.commits)


@dataclass(frozen=True)
class PagesAsChange:
    table: str
    added: int
    changed: int
    deleted: int


def test_the_changes_column_is_filled_through_its_seam(qtbot, service: Service, history):
    """The seam is called off the GUI thread once per visible row with the source and
    the commit's time; here it answers from the real index (its pages)."""
    _db, _followed, every = history
    by_time = {c.time_us: c for c in every}
    asked: list[tuple[str, int]] = []

    def changes(source: str, time_us: int) -> list[PagesAsChange]:
        asked.append((source, time_us))
        return [PagesAsChange("items", by_time[time_us].pages_changed, 0, 0)]

    chooser = MomentChooser(service, changes)
    qtbot.addWidget(chooser)
    chooser.resize(700, 900)
    chooser.show()
    chooser.load(NAME)
    qtbot.waitUntil(lambda: chooser.table.topLevelItemCount() == len(every), timeout=15_000)
    assert not chooser.table.isColumnHidden(1)
    item = chooser.table.topLevelItem(0)
    qtbot.waitUntil(lambda: item.text(2) != "…", timeout=15_000)
    assert item.text(2) == f"items: {every[0].pages_changed} added"
    assert len(asked) == len(set(asked)) and all(s == NAME for s, _ in asked)


def test_times_show_milliseconds_only_when_two_share_a_second():
    base = 1_796_000_000_000_000  # a whole second
    texts = commit_time_texts([base + 1000, base + 2000, base + 1_500_000])
    assert [t[-4:] for t in texts] == [".001", ".002", ".500"], "every row alike"
    apart = commit_time_texts([base + 1000, base + 1_002_000])
    assert [len(t) for t in apart] == [len("2026-11-30 15:03:22")] * 2


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ([], "no rows changed"),
        ([PagesAsChange("items", 2, 1, 0)], "items: 2 added, 1 changed"),
        (
            [PagesAsChange("items", 0, 0, 3), PagesAsChange("tags", 1, 0, 0)],
            "items: 3 deleted; tags: 1 added",
        ),
        ([PagesAsChange("items", 0, 0, 0)], "no rows changed"),
    ],
)
def test_changes_in_words(changes, said):
    assert changes_text(changes) == said
