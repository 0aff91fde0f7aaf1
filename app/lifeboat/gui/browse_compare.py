"""Browse's looks at one row: compared with the live database (each column's value then
and now, the changed ones marked; "not in the live database" when it was deleted since)
and its history (every version across the backup points, as `lifeboat history` lists
them: when, what happened, which columns changed)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.history.row_versions import PointKind, RowChange, RowHistory, RowVersion
from lifeboat.gui.browse_models import cell_text
from lifeboat.gui.text import local_time, plural
from lifeboat.service.point_browse import Key, LiveRow, TableInfo
from lifeboat.service.point_reading import PointLabel

CHANGED_MARK = "changed"
#: a soft background for what differs (readable on light and dark themes' text)
CHANGED_BRUSH = QBrush(QColor(255, 214, 102, 90))


def point_words(label: PointLabel) -> str:
    """Which point a window shows, in a sentence."""
    when = local_time(label.time, seconds=True)
    if label.commit_seq:
        return (
            f"{label.source} as it was at {when}: the last change continuous protection "
            f"captured then (built on snapshot {label.snapshot_id})."
        )
    return f"{label.source} as it was in snapshot {label.snapshot_id}, taken {when}."


def key_words(table: TableInfo, key: Key) -> str:
    if not table.key:
        return f"row {key[0]}"
    return ", ".join(f"{c} = {cell_text(v, 40)}" for c, v in zip(table.key, key, strict=True))


def changed_columns(columns: Sequence[str], past: Sequence[object], live: LiveRow) -> list[str]:
    """The columns whose value now differs from the point's (a column gone now counts)."""
    if live.values is None:
        return []
    return [c for c, v in zip(columns, past, strict=True) if live.values.get(c, v) != v] + [
        c for c in columns if c not in live.columns
    ]


def _dialog(parent: QWidget, name: str, title: str) -> tuple[QDialog, QVBoxLayout]:
    dialog = QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return dialog, QVBoxLayout(dialog)


def _close_row(dialog: QDialog, layout: QVBoxLayout) -> None:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)


def _tree(name: str, headers: list[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setObjectName(name)
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    tree.header().setStretchLastSection(True)
    return tree


def compare_dialog(
    parent: QWidget,
    label: PointLabel,
    table: TableInfo,
    key: Key,
    past: Sequence[object],
    live: LiveRow,
) -> QDialog:
    """The row then and now, column by column."""
    dialog, layout = _dialog(parent, "browse-compare-dialog", f"Compare with live: {table.name}")
    changed = changed_columns(table.columns, past, live)
    headline = QLabel()
    headline.setObjectName("compare-headline")
    headline.setWordWrap(True)
    if live.values is None:
        text = (
            f"This row is not in the live database: it was deleted after "
            f"{local_time(label.time)}. “Bring these back…” puts it back."
        )
    elif changed:
        text = f"{plural(len(changed), 'column')} changed since {local_time(label.time)}."
    else:
        text = f"The live database holds this row as it was on {local_time(label.time)}."
    headline.setText(f"<b>{table.name}, {key_words(table, key)}</b><br>{text}")
    tree = _tree("compare-columns", ["Column", "Then", "Now", ""])
    header = tree.header()  # the two values share the width; long ones are cut (tooltip)
    header.setStretchLastSection(False)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
    bold = QFont()
    bold.setBold(True)
    added = [c for c in live.columns if c not in table.columns]
    for column, value in zip(table.columns, past, strict=True):
        if live.values is None:
            now = "—"
        elif column not in live.columns:
            now = "(no such column now)"
        else:
            now = cell_text(live.values.get(column))
        item = QTreeWidgetItem([column, cell_text(value), now, ""])
        item.setToolTip(1, cell_text(value, 2000))
        if live.values is not None:
            item.setToolTip(2, cell_text(live.values.get(column), 2000))
        if column in changed:
            item.setText(3, CHANGED_MARK)
            for index in range(4):
                item.setBackground(index, CHANGED_BRUSH)
                item.setFont(index, bold)
        tree.addTopLevelItem(item)
    now_values = live.values or {}
    for column in added if live.values is not None else []:
        tree.addTopLevelItem(
            QTreeWidgetItem([column, "(no such column then)", cell_text(now_values[column]), ""])
        )
    layout.addWidget(headline)
    layout.addWidget(tree, 1)
    _close_row(dialog, layout)
    dialog.resize(720, 420)
    return dialog


def version_when(version: RowVersion) -> str:
    return local_time(version.point.time, seconds=True)


def version_point(version: RowVersion) -> str:
    point = version.point
    where = f" (read from {point.remote})" if point.remote else ""
    if point.kind == PointKind.COMMIT:
        return "a change captured by continuous protection" + where
    kind = "differential snapshot" if point.kind == PointKind.DIFF else "snapshot"
    return f"{kind} {point.snapshot_id}{where}"


def version_what(version: RowVersion) -> str:
    """What happened to the row at this point, in words."""
    if version.change == RowChange.DELETED:
        return "the table was gone" if version.table_gone else ""
    if version.change == RowChange.CHANGED:
        return "; ".join(
            f"{c.column}: {cell_text(c.old, 40)} → {cell_text(c.new, 40)}" for c in version.columns
        )
    values = version.values or {}
    return ", ".join(f"{c} = {cell_text(v, 24)}" for c, v in values.items())


CHANGE_WORDS = {
    RowChange.PRESENT: "there",
    RowChange.CREATED: "created",
    RowChange.CHANGED: "changed",
    RowChange.DELETED: "deleted",
}


def row_history_dialog(
    parent: QWidget, source: str, table: TableInfo, key: Key, history: RowHistory
) -> QDialog:
    """Every version of the row, oldest first."""
    dialog, layout = _dialog(parent, "browse-history-dialog", f"Row history: {table.name}")
    headline = QLabel()
    headline.setObjectName("history-headline")
    headline.setWordWrap(True)
    if history.versions:
        headline.setText(
            f"{table.name}, {key_words(table, key)}: {plural(len(history.versions), 'version')} "
            f"across {plural(history.points, 'backup point')} of {source}, oldest first."
        )
    else:
        headline.setText(f"None of the {history.points} backup points of {source} holds this row.")
    tree = _tree("history-versions", ["When", "What happened", "Backup point", "What changed"])
    for version in history.versions:
        item = QTreeWidgetItem(
            [
                version_when(version),
                CHANGE_WORDS.get(version.change, str(version.change)),
                version_point(version),
                version_what(version),
            ]
        )
        item.setToolTip(3, version_what(version))
        tree.addTopLevelItem(item)
    layout.addWidget(headline)
    layout.addWidget(tree, 1)
    for snapshot_id, why in history.unreadable:
        note = QLabel(
            f"Snapshot {snapshot_id} could not be read ({why}): its versions may be missing."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
    _close_row(dialog, layout)
    dialog.resize(820, 380)
    return dialog
