"""The Browse window, for tools/screenshots.py: the tables and a page of rows of a
snapshot of "notes", a search, a row compared with live, its history, and the preview of
bringing back rows deleted since.

`prepare_browse` (before the tray starts) takes a snapshot, then edits and deletes a few
notes as a person's app would: what the pictures compare with."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: the notes edited, then deleted, after the snapshot the window shows
EDITED, DELETED = (3, 5), (6, 8, 10)


def prepare_browse(service: Any, name: str, db: Path) -> str:
    """A snapshot of `name`, then some of its rows edited and deleted; its id."""
    record = service.backup(name)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for note in EDITED:
            conn.execute(
                "update notes set title = 'Budget review (moved to Friday)', tag = 'work' "
                "where id = ?",
                (note,),
            )
        conn.execute(f"delete from notes where id in ({', '.join(map(str, DELETED))})")
    finally:
        conn.close()
    return str(record.id)


def browse_shots(shots: Any, tray_app: Any, snapshot_id: str) -> None:
    from PySide6.QtCore import QItemSelectionModel
    from PySide6.QtWidgets import QApplication, QDialog

    from lifeboat.gui.browse_points import PointWanted

    tray_app.show_browse(PointWanted("notes", snapshot=snapshot_id))
    window = tray_app._dialogs["browse:notes"]
    window.resize(1100, 620)
    shots.wait_until(lambda: window.rows.rowCount() > 0 and window.rows.total is not None)
    window.select_table("notes")
    shots.wait_until(lambda: window.rows.total is not None and window.rows.row_values(20))
    shots.settle(500)

    def select(ids: tuple[int, ...]) -> None:
        """The rows of these notes (ids), from the first page."""
        rows = [
            r for r in range(window.rows.rowCount()) if (window.rows.key_at(r) or (0,))[0] in ids
        ]
        selection = window.view.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(
                window.rows.index(row, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )

    def dialog(name: str) -> Any:
        found: list[Any] = []

        def shown() -> bool:
            found[:] = [
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QDialog) and w.objectName() == name and w.isVisible()
            ]
            return bool(found)

        shots.wait_until(shown)
        shots.settle(400)
        return found[-1]

    select(DELETED)
    shots.settle(300)
    shots.save(window, "browse-window")
    select(EDITED[:1])
    window.compare_button.click()
    compare = dialog("browse-compare-dialog")
    shots.save(compare, "browse-compare")
    compare.close()
    window.history_button.click()
    history = dialog("browse-history-dialog")
    shots.save(history, "browse-row-history")
    history.close()
    select(DELETED)
    window.bring_back_button.click()
    bring = dialog("bring-back-dialog")
    bring.show_rows.setChecked(True)
    shots.wait_until(lambda: bring.plan is not None and bring.rows.topLevelItemCount() > 0)
    shots.settle(400)
    shots.save(bring, "browse-bring-back")
    bring.close()
    window.search.setText("budget")
    shots.wait_until(lambda: window.found.text().endswith("found"))
    shots.settle(400)
    shots.save(window, "browse-search")
    window.close()
    shots.settle(300)
