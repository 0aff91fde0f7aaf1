"""History opens with the newest snapshots, then shows all of them (issue 22: with
10,000 snapshots, reading every record made the window wait most of a second).

Both are read at once on opening: the first rows are shown if they come first (they
nearly always do with 10,000 snapshots; with the few here, either may), and never after
all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.gui.app import TrayApp
from lifeboat.gui.history_dialog import HistoryDialog
from lifeboat.gui.history_reads import History
from lifeboat.service import Service
from tests.gui.test_history_dialog import open_history, shown_ids
from tests.helpers.databases import change_db


@pytest.fixture
def rows_shown(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The snapshots (ids, newest first) of each showing of History's rows, in order."""
    shown: list[list[str]] = []
    show = HistoryDialog._loaded

    def counted(dialog: HistoryDialog, result: History) -> None:
        shown.append([r.id for r in result[0]])
        show(dialog, result)

    monkeypatch.setattr(HistoryDialog, "_loaded", counted)
    monkeypatch.setattr(HistoryDialog, "first_rows", 2)
    return shown


def _backups(service: Service, db: Path, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        change_db(db)  # else nothing new is stored
        ids.append(service.backup("notes").id)
    return ids[::-1]  # newest first


def test_the_newest_show_first_then_all(
    qtbot,
    tray_app: TrayApp,
    service: Service,
    two_sources: tuple[Path, Path],
    rows_shown: list[list[str]],
):
    newest_first = _backups(service, two_sources[0], 5)
    dialog = open_history(qtbot, tray_app)  # waits until every row is there
    assert rows_shown in ([newest_first[:2], newest_first], [newest_first])
    assert dialog.shown == len(rows_shown) and dialog.loaded == 1
    assert shown_ids(dialog) == newest_first
    shown = dialog.shown

    # a reload (after a job) reads all at once: the rows shown are never fewer
    assert dialog.select_snapshot(newest_first[3])
    dialog.reload()
    qtbot.waitUntil(lambda: dialog.loaded == 2, timeout=10_000)
    assert rows_shown[shown:] == [newest_first] and dialog.shown == shown + 1
    assert shown_ids(dialog) == newest_first
    assert dialog.selected() is not None and dialog.selected().id == newest_first[3]


def test_as_few_as_the_first_rows_are_read_once(
    qtbot,
    tray_app: TrayApp,
    service: Service,
    two_sources: tuple[Path, Path],
    rows_shown: list[list[str]],
):
    newest_first = _backups(service, two_sources[0], 1)
    dialog = open_history(qtbot, tray_app)
    assert rows_shown == [newest_first] and dialog.loaded == 1  # the first read was all
    assert shown_ids(dialog) == newest_first


def test_a_reload_asked_for_before_the_first_rows_came_shows_its_own(
    qtbot,
    tray_app: TrayApp,
    service: Service,
    two_sources: tuple[Path, Path],
    rows_shown: list[list[str]],
):
    """Two reads in flight: only the last one's rows are shown (and then all)."""
    newest_first = _backups(service, two_sources[0], 3)
    tray_app.show_history(None)
    dialog = tray_app._dialogs["history"]
    assert isinstance(dialog, HistoryDialog)
    dialog.reload()  # before the first read's rows came back
    qtbot.waitUntil(lambda: dialog.loaded > 0, timeout=10_000)
    newest = service.backup("notes", full=True)  # a job: History reloads, all at once
    qtbot.waitUntil(lambda: newest.id in shown_ids(dialog), timeout=10_000)
    after = [newest.id, *newest_first]
    assert rows_shown in (
        [newest_first[:2], newest_first, after],
        [newest_first, after],
    )  # the first reload's reads were never shown
    assert dialog.loaded == 2
