"""Table models for History: snapshots and jobs, sortable by real values, filterable by
source."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from lifeboat.core.catalog_records import NOT_PROVEN, JobRecord, RemoteCopy, SnapshotRecord
from lifeboat.core.dbcheck import describe, recorded_unchecked
from lifeboat.gui.text import short_time, size_text, time_ago

SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 2

Row = TypeVar("Row")
Index = QModelIndex | QPersistentModelIndex


class Column(Generic[Row]):
    def __init__(
        self,
        title: str,
        text: Callable[[Row], str],
        key: Callable[[Row], Any] | None = None,
        tip: Callable[[Row], str] | None = None,
        right: bool = False,
    ) -> None:
        self.title, self.text, self.key, self.tip, self.right = title, text, key, tip, right


class RecordTable(QAbstractTableModel, Generic[Row]):
    columns: Sequence[Column[Row]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []

    def set_rows(self, rows: list[Row]) -> None:
        self.beginResetModel()
        self.rows = sorted_rows(rows, self.columns, self.sorted_by)
        self.endResetModel()

    #: The column and order the rows are kept in (None: as given).
    sorted_by: tuple[int, Qt.SortOrder] | None = None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows here, by each column's key, in one Python sort: a proxy sorting
        10,000 snapshots asks data() for both sides of each of ~130,000 comparisons,
        which took seconds. Selections and other persistent indexes follow their rows."""
        if not 0 <= column < len(self.columns):
            return
        self.layoutAboutToBeChanged.emit()
        kept = self.persistentIndexList()
        moved = [(index, self.rows[index.row()]) for index in kept]
        self.sorted_by = (column, order)
        self.rows = sorted_rows(self.rows, self.columns, self.sorted_by)
        position = {id(row): n for n, row in enumerate(self.rows)}
        for index, row in moved:
            self.changePersistentIndex(
                index, self.index(position[id(row)], index.column(), index.parent())
            )
        self.layoutChanged.emit()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == SORT_ROLE:
            return column.key(row) if column.key else column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole and column.tip is not None:
            return column.tip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ID_ROLE:
            return self.row_id(row)
        if role == SOURCE_ROLE:
            return self.row_source(row)
        return None

    def row_id(self, row: Row) -> object:
        raise NotImplementedError

    def row_source(self, row: Row) -> str | None:
        raise NotImplementedError


def sorted_rows(
    rows: list[Row], columns: Sequence[Column[Row]], by: tuple[int, Qt.SortOrder] | None
) -> list[Row]:
    """`rows` in the order `by` names (a column and an order), or as given."""
    if by is None:
        return list(rows)
    column = columns[by[0]]
    key = column.key or column.text
    return sorted(rows, key=key, reverse=by[1] == Qt.SortOrder.DescendingOrder)


# -- snapshots -------------------------------------------------------------------------


def _ratio(r: SnapshotRecord) -> float:
    if r.manifest.kind == "diff":  # a few pages: its ratio says nothing
        return 0.0
    return r.manifest.db_size / r.manifest.size if r.manifest.size else 0.0


def _status(r: SnapshotRecord) -> str:
    if r.status == "corrupt":
        return "damaged"
    if r.status == "missing":
        return "file missing"
    if r.status == "remote":
        return "on the remote only"
    if r.verified_at is not None:
        return f"good, verified {time_ago(r.verified_at, datetime.now(UTC))}"
    return "good"


def _status_tip(r: SnapshotRecord) -> str:
    result = describe(r.manifest.check_result, recorded_unchecked(r.manifest.extra))
    check = f"{r.manifest.check_mode} check when taken: {result}"
    return f"{r.status_detail}\n{check}" if r.status_detail else check


def _kept(r: SnapshotRecord) -> str:
    if not r.manifest.protected:
        return ""
    if r.manifest.reason == "pre-restore":
        return "safety copy"
    return "pinned"


KINDS = {"full": "whole", "diff": "changes", "raw": "raw copy"}
KIND_TIPS = {
    "full": "the whole database",
    "diff": "only what changed since the whole snapshot shown under “Built on”; "
    "restoring it needs both",
    "raw": "a byte-for-byte safety copy of a database that could not be opened",
}


def _stored_tip(r: SnapshotRecord) -> str:
    lines = [
        f"{size_text(r.manifest.size)} stored here" if r.local else "not stored here",
        f"{size_text(r.manifest.db_size)} database",
    ]
    lines += [
        f"{c.label}: {size_text(c.size)}{', encrypted' if c.encrypted else ''}" for c in r.copies
    ]
    return "\n".join(lines)


class SnapshotTable(RecordTable[SnapshotRecord]):
    def __init__(self) -> None:
        super().__init__()
        self.remote_of: dict[str, str | None] = {}  # source -> the remote it uploads to
        self._by_id: dict[str, SnapshotRecord] = {}
        self.columns = self._snapshot_columns()

    def _snapshot_columns(self) -> tuple[Column[SnapshotRecord], ...]:
        return (
            Column(
                "Taken",
                lambda r: short_time(r.manifest.created_at),
                key=lambda r: r.manifest.created_at.timestamp(),
                tip=lambda r: f"snapshot {r.id}\n{r.path}",
            ),
            Column("Database", lambda r: r.source),
            Column(
                "Holds",
                lambda r: KINDS.get(r.manifest.kind, r.manifest.kind),
                tip=lambda r: KIND_TIPS.get(r.manifest.kind, ""),
            ),
            Column(
                "Built on",
                self._base,
                key=lambda r: r.manifest.base or "",
                tip=lambda r: (
                    f"holds the changes since the whole snapshot {r.manifest.base}"
                    if r.manifest.base
                    else ""
                ),
            ),
            Column(
                "Stored",
                lambda r: size_text(r.manifest.size),
                key=lambda r: r.manifest.size,
                tip=_stored_tip,
                right=True,
            ),
            Column(
                "Smaller by",
                lambda r: f"{_ratio(r):.1f}×" if _ratio(r) else "–",
                key=_ratio,
                right=True,
            ),
            Column(
                "Status",
                _status,
                key=lambda r: (r.status, r.verified_at is not None),
                tip=_status_tip,
            ),
            Column(
                "Remote copy",
                self._remote_copy,
                key=lambda r: (len(r.copies), self._remote_copy(r)),
                tip=self._remote_tip,
            ),
            Column(
                "Pinned",
                _kept,
                tip=lambda r: (
                    "never deleted by retention"
                    if r.manifest.protected
                    else "retention may delete it"
                ),
            ),
            Column("Why", lambda r: r.manifest.reason),
        )

    def set_snapshots(self, rows: list[SnapshotRecord], remote_of: dict[str, str | None]) -> None:
        self.remote_of = remote_of
        self._by_id = {r.id: r for r in rows}
        self.set_rows(rows)

    def row_id(self, row: SnapshotRecord) -> object:
        return row.id

    def row_source(self, row: SnapshotRecord) -> str | None:
        return row.source

    def _base(self, r: SnapshotRecord) -> str:
        if not r.manifest.base:
            return ""
        base = self._by_id.get(r.manifest.base)
        return short_time(base.manifest.created_at) if base else r.manifest.base

    def _remote_copy(self, r: SnapshotRecord) -> str:
        if r.copies:
            return ", ".join(c.label + (" (encrypted)" if c.encrypted else "") for c in r.copies)
        remote = self.remote_of.get(r.source)
        if remote is None or r.manifest.kind == "raw":
            return "–"
        return "not uploaded yet"

    def _remote_tip(self, r: SnapshotRecord) -> str:
        if not r.copies:
            remote = self.remote_of.get(r.source)
            return (
                f"waiting for its upload to {remote}"
                if remote
                else "this database is not uploaded to a remote"
            )
        return "\n".join(_copy_tip(c) for c in r.copies)


def _copy_tip(c: RemoteCopy) -> str:
    when = c.uploaded_at[:16].replace("T", " ")
    if c.proven:
        return f"{c.remote}: uploaded {when} UTC, {c.key}"
    if c.proof_failed:
        return (
            f"{c.remote}: {c.key} does not match its manifest ({c.proof_failed}); "
            "not counted, kept on the remote for you to look at"
        )
    return (
        f"{c.remote}: {c.key}, found {when} UTC and {NOT_PROVEN} to hold this snapshot's "
        "bytes; not counted until the next upload has read it back"
    )


# -- jobs ------------------------------------------------------------------------------


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def took(j: JobRecord) -> float:
    start, end = parse_time(j.started_at), parse_time(j.finished_at)
    return (end - start).total_seconds() if start and end else -1.0


def took_text(j: JobRecord) -> str:
    seconds = took(j)
    if seconds < 0:
        return ""
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def when_text(j: JobRecord) -> str:
    moment = parse_time(j.started_at or j.queued_at)
    return short_time(moment) if moment else ""


class JobTable(RecordTable[JobRecord]):
    columns = (
        Column("Job", lambda j: str(j.id), key=lambda j: j.id, right=True),
        Column("When", lambda j: when_text(j), key=lambda j: j.id),
        Column("What", lambda j: j.kind),
        Column("Database", lambda j: j.source or "–"),
        Column(
            "Started by", lambda j: j.trigger + (f" (try {j.attempt})" if j.attempt > 1 else "")
        ),
        Column("Result", lambda j: j.status),
        Column("Took", took_text, key=took, right=True),
        Column(
            "Error",
            lambda j: (j.error or "").splitlines()[0] if j.error else "",
            tip=lambda j: j.error or "",
        ),
    )

    def row_id(self, row: JobRecord) -> object:
        return row.id

    def row_source(self, row: JobRecord) -> str | None:
        return row.source


class SourceFilter(QSortFilterProxyModel):
    """Rows of one source (or all), sorted by the real values behind the texts."""

    def __init__(self, model: RecordTable[Any]) -> None:
        super().__init__()
        self.setSourceModel(model)
        self.records = model
        self.source: str | None = None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The table sorts its rows itself (RecordTable.sort); this keeps their order."""
        self.records.sort(column, order)

    def set_source(self, source: str | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+
            self.beginFilterChange()
            self.source = source
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.source = source
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        if self.source is None:
            return True
        return self.records.row_source(self.records.rows[row]) == self.source


def drill_lines(job: JobRecord) -> list[str]:
    """A drill's checks, one line each: which snapshot, which copy, and the verdict."""
    if job.kind != "drill" or not job.detail:
        return []
    checks = json.loads(job.detail).get("checks", [])
    return [
        f"Restored snapshot {c['snapshot_id']} of {c['created_at']} from the "
        f"{'local' if c['copy'] == 'local' else c['copy']} copy in {c['seconds']:.1f} s: "
        f"{'passed' if c['ok'] else 'FAILED: ' + str(c['problem'])}"
        for c in checks
    ]
