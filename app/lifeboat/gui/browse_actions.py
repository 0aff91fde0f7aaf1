"""What the Browse window's buttons under the rows do with the rows selected: "Compare
with live" and "Row history" (read in the pool, shown in gui/browse_compare.py's
dialogs) and "Bring these back…" (gui/browse_bring_back.py). A part of BrowseWindow."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QTableView, QWidget

from lifeboat.gui.browse_compare import compare_dialog, row_history_dialog
from lifeboat.gui.browse_models import RowsModel
from lifeboat.gui.open_dialogs import bring_forward
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.point_browse import Key, PointBrowser, TableInfo


class RowActions:
    service: Service
    browser: PointBrowser | None
    rows: RowsModel
    view: QTableView
    dialogs: list[QWidget]  # compare, history, bring back: kept while open

    if TYPE_CHECKING:  # the window's

        def say(self, text: str) -> None: ...

        def say_error(self, exc: BaseException, lead: str = "") -> None: ...

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.view.selectionModel().selectedRows())

    def selected_keys(self) -> list[Key] | None:
        """The keys of the rows selected (None: some are not read at the moment)."""
        keys = [self.rows.key_at(row) for row in self.selected_rows()]
        return None if any(k is None for k in keys) else [k for k in keys if k is not None]

    def _one_row(self) -> tuple[PointBrowser, TableInfo, Key, tuple[object, ...]] | None:
        rows = self.selected_rows()
        if self.browser is None or self.rows.table is None or len(rows) != 1:
            return None
        key, values = self.rows.key_at(rows[0]), self.rows.row_values(rows[0])
        if key is None or values is None:
            return None
        return self.browser, self.rows.table, key, values

    def compare_selected(self) -> None:
        found = self._one_row()
        if found is None:
            return
        browser, table, key, values = found
        self.say("Reading the live database…")
        self._ask(
            lambda: browser.live_row(table.name, key),
            f"compare a row of {table.name} with live",
            lambda live: compare_dialog(self._as_widget, browser.label, table, key, values, live),
        )

    def history_selected(self) -> None:
        found = self._one_row()
        if found is None:
            return
        browser, table, key, _values = found
        service, source = self.service, browser.source
        self.say(f"Looking for every version of this row of {table.name}…")
        self._ask(
            lambda: service.row_history(source, table.name, table.key_spec(key)),
            f"read the history of a row of {table.name}",
            lambda history: row_history_dialog(self._as_widget, source, table, key, history),
        )

    def _ask(self, work: Callable[[], Any], what: str, show: Callable[[Any], QWidget]) -> None:
        def done(result: object) -> None:
            self.say("")
            self._keep(show(result))

        run_in_background(
            work, what=what, owner=self._as_widget, on_done=done, on_failed=self.say_error
        )

    def bring_back(self) -> None:
        from lifeboat.gui.browse_bring_back import BringBackDialog

        if self.browser is None or self.rows.table is None:
            return
        keys = self.selected_keys() if self.selected_rows() else []
        if keys is None:
            self.say("Some of the rows selected are not read at the moment: select fewer rows.")
            return
        dialog = BringBackDialog(
            self._as_widget, self.service, self.browser.label, self.rows.table, keys
        )
        self._keep(dialog)
        dialog.preview()

    def _keep(self, dialog: QWidget) -> None:
        self.dialogs.append(dialog)
        dialog.destroyed.connect(lambda *_: self.dialogs.remove(dialog))
        bring_forward(dialog)

    @property
    def _as_widget(self) -> QWidget:
        assert isinstance(self, QWidget)
        return self
