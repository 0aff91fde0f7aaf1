"""Browse: look inside a backup point without restoring it.

At the top the point picker (gui/browse_points.py); on the left the point's tables with
their row counts; on the right the selected table's rows, a page at a time
(gui/browse_models.py), a search across its text columns, and for the rows selected:
"Compare with live", "Row history" (gui/browse_compare.py) and "Bring these back…"
(gui/browse_bring_back.py). Everything is read through the service
(Service.browse_point) in the thread pool; the point stays open (what was fetched or
decrypted for it in this run's scratch) until another is picked or the window closes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.browse_actions import RowActions
from lifeboat.gui.browse_compare import point_words
from lifeboat.gui.browse_models import RowsModel
from lifeboat.gui.browse_points import PointPicker, PointWanted
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import error_lines
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.text import percent, phase_text, plural
from lifeboat.gui.workers import Task, run_in_background
from lifeboat.service import Service
from lifeboat.service.point_browse import PointBrowser, TableInfo

COUNTING = "…"
MAX_COLUMN = 280  # pixels: a long text column is cut, its whole value in the tooltip


class BrowseWindow(QWidget, RowActions):
    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("browse-window")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.browser: PointBrowser | None = None
        self.wanted: PointWanted | None = None
        self.opening: Task | None = None
        self.infos: dict[str, TableInfo] = {}
        self._fitted = False  # the columns were fitted to the table's first page
        self.counts: dict[str, int] = {}
        self._asked = 0  # the newest point asked for: older answers are closed unused
        self.rows = RowsModel(self)
        self.rows.counted.connect(self._counted)
        self.rows.failed.connect(self.say_error)
        self.dialogs: list[QWidget] = []  # compare, history, bring back: kept while open
        self._build()
        self.resize(1100, 640)

    def _build(self) -> None:
        self.picker = PointPicker(self.service)
        self.picker.chosen.connect(self.show_point)
        self.shown = QLabel()
        self.shown.setObjectName("browse-shown")
        self.shown.setWordWrap(True)
        self.tables = QTreeWidget()
        self.tables.setObjectName("browse-tables")
        self.tables.setHeaderLabels(["Table", "Rows"])
        self.tables.setRootIsDecorated(False)
        self.tables.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tables.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tables.itemSelectionChanged.connect(self._table_chosen)
        splitter = QSplitter()
        splitter.addWidget(self.tables)
        splitter.addWidget(self._build_rows())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 840])
        self.message = QLabel()
        self.message.setObjectName("browse-message")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("browse-progress")
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picker)
        layout.addWidget(self.shown)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    def _build_rows(self) -> QWidget:
        self.search = QLineEdit()
        self.search.setObjectName("browse-search")
        self.search.setPlaceholderText("Search the text of this table's rows")
        self.search.setClearButtonEnabled(True)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(300)  # typing: search once it stops changing
        self._settle.timeout.connect(self._show_rows)
        self.search.textChanged.connect(lambda _t: self._settle.start())
        self.found = QLabel()
        self.found.setObjectName("browse-found")
        self.view = QTableView()
        self.view.setObjectName("browse-rows")
        self.view.setModel(self.rows)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.horizontalHeader().setDefaultSectionSize(160)
        # fitting the columns reads the rows in view only, not a thousand (pages of them)
        self.view.horizontalHeader().setResizeContentsPrecision(0)
        self.view.verticalHeader().hide()  # a row's place says little; its key is a column
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.rows.modelReset.connect(self._fit_columns)
        self.rows.rowsInserted.connect(lambda *_: self._fit_columns())
        self.rows.dataChanged.connect(lambda *_: self._fit_columns())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        self.view.doubleClicked.connect(lambda _i: self.compare_selected())
        self.compare_button = _button("browse-compare", "&Compare with live", self.compare_selected)
        self.history_button = _button("browse-history", "Row &history", self.history_selected)
        self.bring_back_button = _button("browse-bring-back", "&Bring these back…", self.bring_back)
        search_row = QHBoxLayout()
        search_row.addWidget(QLabel("Search:"))
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.found)
        actions = QHBoxLayout()
        actions.addWidget(self.compare_button)
        actions.addWidget(self.history_button)
        actions.addStretch(1)
        actions.addWidget(self.bring_back_button)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(search_row)
        column.addWidget(self.view, 1)
        column.addLayout(actions)
        return right

    # -- the point ----------------------------------------------------------------------

    def show_point(self, wanted: PointWanted) -> None:
        """Open `wanted` (in the pool) and show its tables."""
        if wanted == self.wanted and (self.browser is not None or self.opening is not None):
            return
        if self.wanted is None or wanted.source != self.wanted.source:
            self.picker.load(wanted)
        else:
            self.picker.select(wanted)
        self.wanted = wanted
        self.setWindowTitle(f"Browse {wanted.source}")
        self._let_go()
        self._asked += 1
        asked, service = self._asked, self.service
        self.shown.setText(f"Opening {wanted.words()}…")
        self.say("")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.opening = run_in_background(
            lambda progress, cancel: service.browse_point(
                wanted.source,
                snapshot=wanted.snapshot,
                at=wanted.at,
                progress=progress,
                cancel=cancel,
            ),
            what=f"open {wanted.words()}",
            owner=self,
            on_done=lambda browser: self._opened(asked, browser),
            on_failed=lambda exc: self._open_failed(asked, exc),
            on_progress=self._progress,
        )
        self._enable()

    def _let_go(self) -> None:
        """Close the point shown (in the pool: it may remove scratch files)."""
        if self.opening is not None:
            self.opening.cancel.cancel("another point was picked")
            self.opening = None
        old, self.browser = self.browser, None
        self.rows.show_table(None, None, "")
        self.tables.clear()
        self.infos, self.counts = {}, {}
        if old is not None:
            run_in_background(old.close, what="close a backup point")

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.progress.setRange(0, 100 if total else 0)
        self.progress.setValue(percent(done, total))
        self.progress.setFormat(f"{phase_text(phase)} %p%")

    def _opened(self, asked: int, browser: PointBrowser) -> None:
        if asked != self._asked:
            run_in_background(browser.close, what="close a backup point")
            return
        self.opening, self.browser = None, browser
        self.progress.hide()
        self.shown.setText(point_words(browser.label))
        run_in_background(
            browser.tables,
            what="list the tables of a backup point",
            owner=self,
            on_done=lambda tables: self._listed(asked, tables),
            on_failed=lambda exc: self._open_failed(asked, exc),
        )

    def _open_failed(self, asked: int, exc: BaseException) -> None:
        if asked != self._asked:
            return
        self.opening = None
        self.progress.hide()
        assert self.wanted is not None
        self.shown.setText(f"{self.wanted.words().capitalize()} could not be opened.")
        self.say_error(exc, lead="It could not be read: ")

    def _listed(self, asked: int, tables: list[TableInfo]) -> None:
        if asked != self._asked or self.browser is None:
            return
        chosen = self.table_name()
        self.infos = {t.name: t for t in tables}
        self.tables.clear()
        for info in tables:
            item = QTreeWidgetItem([info.name, COUNTING])
            item.setData(0, Qt.ItemDataRole.UserRole, info.name)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            self.tables.addTopLevelItem(item)
            self._count(asked, info.name)
        if not tables:
            self.say("This point holds no tables.")
        self.select_table(chosen if chosen in self.infos else (tables[0].name if tables else ""))

    def _count(self, asked: int, table: str) -> None:
        browser = self.browser
        assert browser is not None
        run_in_background(
            lambda: browser.count(table),
            what=f"count the rows of {table}",
            owner=self,
            on_done=lambda n: self._table_counted(asked, table, n),
            on_failed=lambda exc: self._open_failed(asked, exc),
        )

    def _table_counted(self, asked: int, table: str, count: int) -> None:
        if asked != self._asked:
            return
        self.counts[table] = count
        item = self._table_item(table)
        if item is not None:
            item.setText(1, f"{count:,}")

    # -- the rows -----------------------------------------------------------------------

    def table_name(self) -> str:
        items = self.tables.selectedItems()
        return str(items[0].data(0, Qt.ItemDataRole.UserRole)) if items else ""

    def _table_item(self, name: str) -> QTreeWidgetItem | None:
        for index in range(self.tables.topLevelItemCount()):
            item = self.tables.topLevelItem(index)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == name:
                return item
        return None

    def select_table(self, name: str) -> bool:
        item = self._table_item(name)
        if item is not None:
            self.tables.setCurrentItem(item)
        return item is not None

    def _table_chosen(self) -> None:
        self._settle.stop()
        self._show_rows()

    def _show_rows(self) -> None:
        self._settle.stop()
        table = self.infos.get(self.table_name())
        self.found.setText("")
        self._fitted = False
        self.rows.show_table(self.browser, table, self.search.text().strip())
        if table is not None and self.search.text().strip() and not table.text_columns:
            self.found.setText("This table has no text columns to search.")
        self._enable()

    def _fit_columns(self) -> None:
        """Each column as wide as its first rows need, up to MAX_COLUMN (once a table's
        first page is here)."""
        if self.rows.rowCount() and self.rows.pages and not self._fitted:
            self._fitted = True
            self.view.resizeColumnsToContents()
            for column in range(self.rows.columnCount()):
                width = self.view.columnWidth(column)
                self.view.setColumnWidth(column, max(60, min(width, MAX_COLUMN)))

    def _counted(self) -> None:
        if self.rows.search and self.rows.total is not None:
            self.found.setText(f"{plural(self.rows.total, 'row')} found")
        self._enable()  # whether every row is selected depends on the count

    def _enable(self) -> None:
        selected = self.selected_count()
        ready = self.browser is not None and self.rows.table is not None
        self.compare_button.setEnabled(ready and selected == 1)
        self.history_button.setEnabled(ready and selected == 1)
        self.bring_back_button.setEnabled(ready)
        if selected and not self.every_row_selected():
            self.bring_back_button.setText("&Bring these back…")
        elif self.rows.search:
            self.bring_back_button.setText("&Bring back the rows found…")
        else:
            self.bring_back_button.setText("&Bring the whole table back…")

    # -- words --------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(text)

    def say_error(self, exc: BaseException, lead: str = "") -> None:
        message, hint = error_lines(exc)
        raw = exc.message if isinstance(exc, LifeboatError) else ""
        if lead and message:  # "It could not be read: notes-….zst does not decompress"
            message = lead + (message[0] if raw[:1].isupper() else message[0].lower()) + message[1:]
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(f"{message} {hint}".strip())

    def closeEvent(self, event: QCloseEvent) -> None:
        self._let_go()
        super().closeEvent(event)


def _button(name: str, text: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(slot)
    return button
