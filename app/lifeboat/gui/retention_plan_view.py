"""The retention preview's list: each snapshot with what the keep rules would do to it
now (kept or deleted) and why, in words (core/retention_reasons.py)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from lifeboat.core.retention_reasons import PlanLine
from lifeboat.gui.text import local_time, size_text

COLUMNS = ("Snapshot", "Size", "If applied now", "Why")
WHEN, SIZE, OUTCOME, WHY = range(4)


class RetentionPlanView(QTreeWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("keep-plan")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)  # each reason on its own line
        header = self.header()
        header.setStretchLastSection(True)
        for column in (WHEN, SIZE, OUTCOME):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(140)

    def show_lines(self, lines: Sequence[PlanLine]) -> None:
        self.clear()
        muted = QBrush(self.palette().color(QPalette.ColorRole.PlaceholderText))
        for line in lines:
            item = QTreeWidgetItem(
                [
                    local_time(line.created_at),
                    size_text(line.size),
                    "Kept" if line.keep else "Deleted",
                    "\n".join(part[:1].upper() + part[1:] for part in line.why.split("; ")),
                ]
            )
            item.setToolTip(WHY, item.text(WHY))
            if not line.keep:
                for column in range(len(COLUMNS)):
                    item.setForeground(column, muted)
            self.addTopLevelItem(item)

    def lines_shown(self) -> list[tuple[str, str]]:
        """(outcome, why) of each row, top to bottom (for tests and screen readers)."""
        items = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        return [(item.text(OUTCOME), item.text(WHY)) for item in items if item is not None]
