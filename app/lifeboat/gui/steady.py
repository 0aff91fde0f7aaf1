"""Widgets that keep their place: text that reserves its lines before it needs them, and
message boxes wide enough to read, so nothing shifts or is cut off when text changes."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QSpacerItem,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
)

#: The narrowest a message box or question is (narrower, a sentence breaks every few words).
MIN_BOX_WIDTH = 420
#: What a cell adds around its text (margins of the style), in pixels.
_CELL_PADDING = 12


def reserve_lines(label: QLabel, lines: int = 2) -> QLabel:
    """Let `label` wrap, and give it room for `lines` lines from the start: a longer
    progress text ("Checking the snapshot of notes: 45% …") then neither is cut off nor
    pushes the widgets below it down."""
    label.setWordWrap(True)
    margins = label.contentsMargins()
    height = label.fontMetrics().lineSpacing() * lines + margins.top() + margins.bottom()
    label.setMinimumHeight(height)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


def widen(box: QMessageBox, width: int = MIN_BOX_WIDTH) -> QMessageBox:
    """Make a message box at least `width` pixels wide (QMessageBox ignores a minimum
    width: a spacer across its grid is what holds it open)."""
    layout = box.layout()
    if isinstance(layout, QGridLayout):
        spacer = QSpacerItem(width, 0, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        layout.addItem(spacer, layout.rowCount(), 0, 1, layout.columnCount())
    return box


class WrappingCells(QStyledItemDelegate):
    """Cells of a tree's column that wrap their text: each row is as tall as its text
    needs at the column's width (QTreeView measures rows as if never wrapped)."""

    def __init__(self, tree: QTreeView) -> None:
        super().__init__(tree)
        self._tree = tree

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        base = super().sizeHint(option, index)
        width = self._tree.columnWidth(index.column()) - _CELL_PADDING
        text = str(index.data() or "")
        if width <= 0 or not text:
            return base
        flags = Qt.TextFlag.TextWordWrap
        needed = option.fontMetrics.boundingRect(QRect(0, 0, width, 100_000), flags, text)
        return QSize(base.width(), max(base.height(), needed.height() + _CELL_PADDING // 2))


def wrap_column(tree: QTreeView, column: int) -> None:
    """Let `column` of `tree` wrap its text, rows growing to show it whole (also when
    the column's width changes)."""
    tree.setWordWrap(True)
    tree.setUniformRowHeights(False)
    tree.setTextElideMode(Qt.TextElideMode.ElideNone)
    tree.setItemDelegateForColumn(column, WrappingCells(tree))
    tree.header().sectionResized.connect(lambda *_: tree.doItemsLayout())
