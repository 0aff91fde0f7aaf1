"""The Browse window's rows: a table model that asks the service for pages of rows as the
view needs them (PointBrowser.page, off the GUI thread), keeps only the last MAX_PAGES
pages, and shows "…" in a row until its page has come.

The row count comes from the service's count (with the search, if any); until it has
come the model shows the rows of its first page. Answers to an older question (another
table, another search, another point) are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from lifeboat.gui.workers import run_in_background
from lifeboat.service.point_browse import Key, PointBrowser, RowPage, TableInfo

PAGE_ROWS = 200
MAX_PAGES = 8  # what is kept for scrolling back (1,600 rows)
LOADING = "…"
CELL_CHARS = 200

Index = QModelIndex | QPersistentModelIndex


def cell_text(value: object, width: int = CELL_CHARS) -> str:
    """A value as the table shows it: NULL, a blob by its size, text on one line, cut."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


class RowsModel(QAbstractTableModel):
    """The rows of one table of a point (or of what a search finds in it), fetched a
    page at a time."""

    #: the row count is known (or failed: the message), for the window's words
    counted = Signal()
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.browser: PointBrowser | None = None
        self.table: TableInfo | None = None
        self.search = ""
        self.total: int | None = None  # None: not counted yet
        self.pages: OrderedDict[int, RowPage] = OrderedDict()
        self.asked: set[int] = set()  # pages asked for and not come yet
        self._question = 0

    # -- what is shown -------------------------------------------------------------

    def show_table(
        self, browser: PointBrowser | None, table: TableInfo | None, search: str
    ) -> None:
        """Start over on `table` of `browser` (None: nothing), with `search`."""
        self.beginResetModel()
        self.browser, self.table, self.search = browser, table, search
        self.total = None
        self.pages.clear()
        self.asked.clear()
        self._question += 1
        self.endResetModel()
        if browser is not None and table is not None:
            self._fetch(0)
            self._count()

    def _count(self) -> None:
        browser, table, search, question = self.browser, self.table, self.search, self._question
        assert browser is not None and table is not None
        run_in_background(
            lambda: browser.count(table.name, search),
            what=f"count the rows of {table.name}",
            owner=self,
            on_done=lambda total: self._counted(question, total),
            on_failed=lambda exc: self._failed(question, exc),
        )

    def _counted(self, question: int, total: int) -> None:
        if question != self._question:
            return
        self._resize(total, lambda: setattr(self, "total", total))
        self.counted.emit()

    def _resize(self, after: int, change: Callable[[], object]) -> None:
        """Make `change` to the row count as rows added or removed at the end: the view
        keeps its place and its selection."""
        before = self.rowCount()
        if after > before:
            self.beginInsertRows(QModelIndex(), before, after - 1)
            change()
            self.endInsertRows()
        elif after < before:
            self.beginRemoveRows(QModelIndex(), after, before - 1)
            change()
            self.endRemoveRows()
        else:
            change()

    def _fetch(self, number: int) -> None:
        if number in self.asked or number in self.pages or self.browser is None:
            return
        browser, table, search, question = self.browser, self.table, self.search, self._question
        assert table is not None
        self.asked.add(number)
        run_in_background(
            lambda: browser.page(table.name, number * PAGE_ROWS, PAGE_ROWS, search),
            what=f"read rows of {table.name}",
            owner=self,
            on_done=lambda page: self._arrived(question, number, page),
            on_failed=lambda exc: self._failed(question, exc),
        )

    def _arrived(self, question: int, number: int, page: RowPage) -> None:
        if question != self._question:
            return
        self.asked.discard(number)

        def keep() -> None:
            self.pages[number] = page
            while len(self.pages) > MAX_PAGES:
                self.pages.popitem(last=False)

        if self.total is None and number == 0:  # rows to show until they are counted
            self._resize(len(page.rows), keep)
            return
        keep()
        first = number * PAGE_ROWS
        last = min(first + PAGE_ROWS, self.rowCount()) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))

    def _failed(self, question: int, exc: BaseException) -> None:
        if question == self._question:
            self.failed.emit(exc)

    # -- reading rows -----------------------------------------------------------------

    def _page_of(self, row: int) -> tuple[RowPage | None, int]:
        number, place = divmod(row, PAGE_ROWS)
        page = self.pages.get(number)
        if page is None:
            self._fetch(number)
            return None, place
        self.pages.move_to_end(number)
        return page, place

    def row_values(self, row: int) -> tuple[Any, ...] | None:
        page, place = self._page_of(row)
        return page.rows[place] if page is not None and place < len(page.rows) else None

    def key_at(self, row: int) -> Key | None:
        """The key of a row shown (None: its page is not here now)."""
        number, place = divmod(row, PAGE_ROWS)
        page = self.pages.get(number)
        return page.keys[place] if page is not None and place < len(page.keys) else None

    @property
    def rows_held(self) -> int:
        return sum(len(p.rows) for p in self.pages.values())

    # -- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: Index | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        if self.total is not None:
            return self.total
        first = self.pages.get(0)
        return len(first.rows) if first is not None else 0

    def columnCount(self, parent: Index | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self.table.columns) if self.table is not None else 0

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        values = self.row_values(index.row())
        if values is None:
            return LOADING
        value = values[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell_text(value, 2000) if isinstance(value, str) else None
        return cell_text(value)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and self.table is not None:
            return self.table.columns[section]
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return None
