"""What the Browse window's buttons under the rows do with the rows selected: "Compare
with live" and "Row history" (read in the pool, shown in gui/browse_compare.py's
dialogs) and "Bring these back…" (gui/browse_bring_back.py). A part of BrowseWindow."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QTableView, QWidget

from lifeboat.gui.browse_bring_back import ChosenRows
from lifeboat.gui.browse_compare import compare_dialog, row_history_dialog
from lifeboat.gui.browse_models import RowsModel
from lifeboat.gui.open_dialogs import bring_forward
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.point_browse import Key, PointBrowser, TableInfo

#: rows selected by hand whose keys are read to bring them back (past it: select none,
#: and the whole table or what the search shows comes back)
MAX_KEYS_READ = 10_000
KEYS_PER_READ = 1_000


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

    def selected_spans(self) -> list[tuple[int, int]]:
        """The rows selected as (first, last) spans, joined and in order: Ctrl+A over a
        million rows is one span, not a million indexes."""
        selection = self.view.selectionModel().selection()
        spans = sorted(
            (selection.at(i).top(), selection.at(i).bottom()) for i in range(selection.count())
        )
        joined: list[tuple[int, int]] = []
        for first, last in spans:
            if joined and first <= joined[-1][1] + 1:
                joined[-1] = (joined[-1][0], max(joined[-1][1], last))
            else:
                joined.append((first, last))
        return joined

    def selected_count(self) -> int:
        return sum(last - first + 1 for first, last in self.selected_spans())

    def every_row_selected(self) -> bool:
        """Every row the table (or the search) has is selected (Ctrl+A)."""
        total = self.rows.total
        return total is not None and total > 0 and self.selected_spans() == [(0, total - 1)]

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
        """The rows selected; with none (or every one) selected, what the table shows:
        the rows the search finds, or the whole table, said with their count."""
        table, browser = self.rows.table, self.browser
        if browser is None or table is None:
            return
        search, total = self.rows.search, self.rows.total
        if self.selected_count() and not self.every_row_selected():
            held = self.selected_count() <= self.rows.rows_held  # else some cannot be here
            keys = self.selected_keys() if held else None
            if keys is None:
                self._read_selected_keys(browser, table)
                return
            chosen = ChosenRows.of_keys(table, keys)
        elif search:
            chosen = ChosenRows.of_search(table, search, total)
        else:
            chosen = ChosenRows.whole(table, total)
        self._open_bring_back(browser, table, chosen)

    def _read_selected_keys(self, browser: PointBrowser, table: TableInfo) -> None:
        """Some rows selected are not read at the moment (scrolled past, or selected by
        Shift+click over rows never shown): their keys are read first, in the pool."""
        count, search = self.selected_count(), self.rows.search
        if count > MAX_KEYS_READ:
            rest = "what the search shows" if search else "the whole table"
            self.say(
                f"{count:,} rows are selected: bringing back more than {MAX_KEYS_READ:,} "
                f"rows picked by hand is not offered. Select none to bring back {rest}, "
                "or select fewer rows."
            )
            return
        spans = self.selected_spans()
        self.say(f"Reading the keys of the {count:,} rows selected…")

        def read() -> list[Key]:
            keys: list[Key] = []
            for first, last in spans:
                for at in range(first, last + 1, KEYS_PER_READ):
                    take = min(KEYS_PER_READ, last + 1 - at)
                    keys += browser.page(table.name, at, take, search).keys
            return keys

        def done(keys: list[Key]) -> None:
            self.say("")
            if self.browser is browser and self.rows.table == table:
                self._open_bring_back(browser, table, ChosenRows.of_keys(table, keys))

        run_in_background(
            read,
            what=f"read the keys of the rows of {table.name} selected",
            owner=self._as_widget,
            on_done=done,
            on_failed=self.say_error,
        )

    def _open_bring_back(self, browser: PointBrowser, table: TableInfo, chosen: ChosenRows) -> None:
        from lifeboat.gui.browse_bring_back import BringBackDialog

        dialog = BringBackDialog(self._as_widget, self.service, browser.label, table, chosen)
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
