"""History's tables sort their rows themselves (one Python sort, not a proxy asking
data() for every comparison: issue 22) and the proxy only filters: the order, the
filter and the selection behave as before."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QPersistentModelIndex, Qt

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.foundation.states import SnapshotStatus
from lifeboat.gui.history_models import ID_ROLE, SnapshotTable, SourceFilter
from lifeboat.gui.history_tabs import make_table
from tests.core.test_catalog import manifest

TAKEN, DATABASE, STORED = 0, 1, 4


def records(count: int) -> list[SnapshotRecord]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for n in range(count):
        m = manifest(f"{n:08x}", source=f"db{n % 3}")
        when = start + timedelta(hours=n)
        m = replace(m, created_at=when, size=(n * 7919) % 1000 + 1)
        made.append(SnapshotRecord(m, Path("/x"), SnapshotStatus.OK, None, None))
    random.Random(4).shuffle(made)
    return made


def shown(view: SourceFilter) -> list[str]:
    return [view.index(row, 0).data(ID_ROLE) for row in range(view.rowCount())]


def test_sorting_through_the_view_sorts_the_table(qtbot):
    table = SnapshotTable()
    view = SourceFilter(table)
    widget = make_table(view, "snapshots")
    qtbot.addWidget(widget)
    rows = records(300)
    table.set_snapshots(rows, {})
    widget.sortByColumn(TAKEN, Qt.SortOrder.DescendingOrder)
    newest_first = sorted(rows, key=lambda r: r.manifest.created_at, reverse=True)
    assert shown(view) == [r.id for r in newest_first]
    assert view.sortColumn() == -1, "the proxy keeps the table's order, it does not sort"

    widget.sortByColumn(STORED, Qt.SortOrder.AscendingOrder)
    sizes = [table.rows[view.mapToSource(view.index(n, 0)).row()].manifest.size for n in range(300)]
    assert sizes == sorted(sizes)

    # a reload keeps the order chosen
    table.set_snapshots(records(300)[:200], {})
    sizes = [r.manifest.size for r in table.rows]
    assert sizes == sorted(sizes) and len(sizes) == 200


def test_the_filter_keeps_the_order_and_the_selection_follows_its_row(qtbot):
    table = SnapshotTable()
    view = SourceFilter(table)
    widget = make_table(view, "snapshots")
    qtbot.addWidget(widget)
    table.set_snapshots(records(90), {})
    widget.sortByColumn(TAKEN, Qt.SortOrder.AscendingOrder)
    view.set_source("db1")
    ids = shown(view)
    assert len(ids) == 30
    assert all(table._by_id[i].source == "db1" for i in ids)
    times = [table._by_id[i].manifest.created_at for i in ids]
    assert times == sorted(times)

    picked = view.index(7, 0)
    widget.selectionModel().select(
        picked, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.Rows
    )
    chosen = picked.data(ID_ROLE)
    kept = QPersistentModelIndex(picked)
    widget.sortByColumn(TAKEN, Qt.SortOrder.DescendingOrder)
    assert shown(view)[0] == ids[-1]
    (selected,) = widget.selectionModel().selectedRows()
    assert selected.data(ID_ROLE) == chosen
    assert kept.data(ID_ROLE) == chosen

    view.set_source(None)
    assert len(shown(view)) == 90


def test_column_widths_are_measured_on_a_sample_of_rows(qtbot):
    widget = make_table(SourceFilter(SnapshotTable()), "snapshots")
    qtbot.addWidget(widget)
    assert 0 < widget.horizontalHeader().resizeContentsPrecision() <= 100
