"""Browse's "Bring back…" brings back what the window shows: with a search and nothing
selected, the rows the search finds (not the whole table), said with their count before
confirming; Ctrl+A over a table whose rows are mostly not read is the whole table (or
the search), not a refusal; a selection over rows not read at the moment has their keys
read first. Against the real service, pytest-qt on the offscreen platform."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel

from lifeboat.gui.browse_points import PointWanted
from lifeboat.service import Service
from tests.gui.test_browse_window import (
    bring_back_dialog,
    browse_window,
    change,
)
from tests.helpers.databases import make_db

NAME = "big"


def _ids(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("select id from items")}
    finally:
        conn.close()


def _window(qtbot, make_tray, service: Service, tmp_path: Path, rows: int = 6000):
    db = make_db(tmp_path / "big.db", rows=rows, payload=40)
    service.add_source(db, name=NAME, schedule="manual")
    record = service.backup(NAME)
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME, snapshot=record.id))
    window = browse_window(qtbot, tray_app, NAME)
    qtbot.waitUntil(lambda: window.rows.total == rows, timeout=30_000)
    return db, window


def test_with_a_search_and_nothing_selected_the_rows_found_come_back(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    db, window = _window(qtbot, make_tray, service, tmp_path, rows=300)
    change(db, "delete from items where id between 100 and 199")  # 100 deleted since
    window.search.setText("item-0-12")  # finds ids 13, 121-130 (11 rows)
    qtbot.waitUntil(lambda: window.found.text() == "11 rows found", timeout=15_000)
    assert window.bring_back_button.text() == "&Bring back the rows found…"
    dialog = bring_back_dialog(qtbot, window)
    headline = dialog.findChild(type(dialog.counts), "bring-back-headline")
    assert headline is not None
    assert "the 11 rows the search “item-0-12” finds" in headline.text(), headline.text()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    assert "10 rows come back (deleted since)." in dialog.counts.text(), dialog.counts.text()
    dialog.confirm.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    now = _ids(db)
    assert set(range(121, 131)) <= now, "the rows the search found came back"
    assert not now & (set(range(100, 121)) | set(range(131, 200))), "the others did not"
    dialog.close()
    window.close()


def test_ctrl_a_over_rows_not_read_is_the_whole_table(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    db, window = _window(qtbot, make_tray, service, tmp_path)
    change(db, "delete from items where id > 5000")
    window.view.setFocus()
    window.view.selectAll()  # Ctrl+A: 6,000 rows, a page or two of them read
    assert window.rows.rows_held < 6000
    assert window.bring_back_button.text() == "&Bring the whole table back…"
    dialog = bring_back_dialog(qtbot, window)
    headline = dialog.findChild(type(dialog.counts), "bring-back-headline")
    assert headline is not None and "the whole table items (6,000 rows then)" in headline.text()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    assert "1000 rows come back" in dialog.counts.text(), dialog.counts.text()
    dialog.close()
    window.close()


def test_a_selection_over_rows_not_read_has_their_keys_read_first(
    qtbot, make_tray, service: Service, tmp_path: Path
):
    db, window = _window(qtbot, make_tray, service, tmp_path)
    change(db, "delete from items where id between 2001 and 2500")  # rows 2000-2499
    selection = QItemSelection(window.rows.index(1500, 0), window.rows.index(2999, 2))
    window.view.selectionModel().select(
        selection,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )  # Shift+click from row 1,501 to row 3,000: none of them ever shown
    assert window.bring_back_button.text() == "&Bring these back…"
    dialog = bring_back_dialog(qtbot, window)
    headline = dialog.findChild(type(dialog.counts), "bring-back-headline")
    assert headline is not None and "the 1,500 rows selected" in headline.text()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    assert "500 rows come back (deleted since)." in dialog.counts.text(), dialog.counts.text()
    assert "1000 rows that did not change are kept" in dialog.counts.text()
    dialog.close()
    window.close()
