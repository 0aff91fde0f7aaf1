"""Where the desktop has no tray, the main window opens instead, with the same status
and actions; closing it asks whether to quit."""

from __future__ import annotations

from lifeboat.foundation.states import Health
from lifeboat.gui.app import TrayApp
from lifeboat.gui.first_run import FirstRunWizard
from lifeboat.service import Service
from lifeboat.service.problems import SourceProblem
from tests.gui.conftest import click_box_button, wait_for_box


def test_without_a_tray_the_main_window_opens(qtbot, make_tray, two_sources, service: Service):
    tray_app: TrayApp = make_tray(use_tray=False)
    window = tray_app.window
    assert tray_app.tray is None
    assert window.isVisible() and not window.has_tray
    assert window.sources.topLevelItemCount() == 2
    assert window.headline.text() == "Not backed up yet: notes, crm"
    window.button("backup-all").click()
    qtbot.waitUntil(lambda: len(service.snapshots()) == 2, timeout=20_000)
    qtbot.waitUntil(lambda: window.headline.text() == "All databases are backed up", timeout=10_000)
    rows = [window.sources.topLevelItem(i) for i in range(2)]
    assert [(r.text(0), r.text(1)) for r in rows] == [
        ("notes", "backed up just now"),
        ("crm", "backed up just now"),
    ]
    window.button("history").click()
    assert tray_app._dialogs["history"].isVisible()


def test_without_a_tray_notifications_show_in_the_window(make_tray, two_sources):
    tray_app: TrayApp = make_tray(use_tray=False)
    problem = SourceProblem("notes", Health.FAILED, "Backup failed: the disk is full")
    tray_app.notifier.update({"notes": problem}, ["notes", "crm"], tray_app.status.now())
    assert tray_app.window.notice.isVisible()
    assert "Backup of notes failed" in tray_app.window.notice_text.text()


def test_closing_the_window_without_a_tray_asks_first(qtbot, make_tray, two_sources):
    tray_app: TrayApp = make_tray(use_tray=False)
    window = tray_app.window
    window.close()
    box = wait_for_box(qtbot, "Quit Lifeboat?")
    click_box_button(box, "Keep running")
    qtbot.waitUntil(lambda: window.isMinimized(), timeout=30_000)
    assert tray_app.scheduler is not None
    window.close()
    box = wait_for_box(qtbot, "Quit Lifeboat?")
    with qtbot.waitSignal(tray_app.stopped, timeout=15_000):
        click_box_button(box, "Quit")
    assert tray_app.scheduler is None


def test_with_a_tray_closing_only_hides_the_window(qtbot, make_tray, two_sources):
    tray_app: TrayApp = make_tray(show_window=True)
    assert tray_app.window.isVisible()
    tray_app.window.close()
    assert not tray_app.window.isVisible()
    assert tray_app.scheduler is not None
    tray_app.show_main_window()
    assert tray_app.window.isVisible()


def test_first_run_window_leads_to_adding_a_database(qtbot, make_tray):
    tray_app: TrayApp = make_tray(use_tray=False)
    window = tray_app.window
    assert window.pages.currentIndex() == 1
    assert not window.button("backup-all").isEnabled()
    # With no database, the first-run flow opens by itself once, at launch ...
    qtbot.waitUntil(lambda: "first-run" in tray_app._dialogs._open, timeout=30_000)
    first_run = tray_app._dialogs["first-run"]
    assert isinstance(first_run, FirstRunWizard) and first_run.isVisible()
    first_run.close()
    # ... and closing it is an answer: the next status read does not bring it back, while
    # "Add a database…" opens it again.
    read = tray_app.status.read_at
    tray_app.status.refresh()
    qtbot.waitUntil(lambda: tray_app.status.read_at != read, timeout=30_000)
    assert not first_run.isVisible()
    window.button("add-database").click()
    assert tray_app._dialogs["first-run"].isVisible()


def test_databases_are_shown_by_their_display_names_and_continuous_ones_say_so(
    qtbot, tray_app: TrayApp, service: Service
):
    from dataclasses import replace
    from datetime import timedelta

    service.update_source("notes", display_name="My Notes")
    read = tray_app.status.read_at
    tray_app.status.refresh()
    qtbot.waitUntil(lambda: tray_app.status.read_at != read, timeout=30_000)
    rows = tray_app.window.sources
    titles = [rows.topLevelItem(i).text(0) for i in range(rows.topLevelItemCount())]
    assert "My Notes" in titles and "notes" not in titles
    notes = next(s for s in tray_app.status.sources if s.name == "notes")
    assert tray_app.status.source_line(notes).startswith("My Notes — ")
    following = replace(
        notes, continuous=True, last_capture=tray_app.status.now() - timedelta(seconds=2)
    )
    detail = tray_app.status.source_detail(following)
    assert detail.startswith("Protected continuously, last change captured "), detail
    assert detail.endswith(" s ago"), detail
