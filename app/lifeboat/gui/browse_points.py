"""The Browse window's point picker: the newest point, each snapshot of the database
that can be read, and, for a database with continuous history, "A moment in time" (a
day and a time; the point shown is the last change captured at or before it).

The snapshots and whether there is continuous history are read in the thread pool;
`chosen` is emitted with the point picked (PointWanted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDateTimeEdit, QHBoxLayout, QLabel, QPushButton, QWidget

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.gui.restore_moment import qt_moment
from lifeboat.gui.text import short_time
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service

#: the combo box's data: the newest point, a snapshot (followed by its id), a moment
NEWEST, SNAPSHOT, MOMENT = "newest", "snapshot:", "moment"


@dataclass(frozen=True)
class PointWanted:
    """Which point of `source` to show: a snapshot, a moment, or (neither) the newest."""

    source: str
    snapshot: str | None = None
    at: datetime | None = None

    def words(self) -> str:
        if self.snapshot is not None:
            return f"snapshot {self.snapshot}"
        if self.at is not None:
            return f"{self.source} at {self.at.astimezone():%Y-%m-%d %H:%M:%S}"
        return f"the newest point of {self.source}"


def snapshot_label(record: SnapshotRecord) -> str:
    where = "" if record.local else " (on " + ", ".join(c.remote for c in record.copies) + ")"
    return f"Snapshot {record.id} of {short_time(record.manifest.created_at)}{where}"


class PointPicker(QWidget):
    """A combo box of points (and a day and time for "A moment in time")."""

    chosen = Signal(object)  # PointWanted

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service
        self.source = ""
        self.records: list[SnapshotRecord] = []
        self.continuous = False
        self._moment_set = False
        self.points = QComboBox()
        self.points.setObjectName("browse-points")
        self.points.setMinimumContentsLength(34)
        self.points.activated.connect(lambda _i: self._activated())
        self.when = QDateTimeEdit()
        self.when.setObjectName("browse-when")
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.when.setCalendarPopup(True)
        self.show_moment = QPushButton("Show")
        self.show_moment.setObjectName("browse-show-moment")
        self.show_moment.clicked.connect(self._picked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Show the database as it was in:"))
        row.addWidget(self.points)
        row.addWidget(self.when)
        row.addWidget(self.show_moment)
        row.addStretch(1)
        self._moment_shown(False)

    def load(self, wanted: PointWanted) -> None:
        """List `wanted.source`'s points (in the pool), with `wanted` selected."""
        self.source = wanted.source
        self._fill([], False, wanted)
        service, source = self.service, wanted.source

        from lifeboat.gui.restore_pages import usable  # the wizard's pages: not at start

        def read() -> tuple[list[SnapshotRecord], bool]:
            records = [r for r in service.snapshots(source) if usable(r)]
            records = [r for r in records if r.manifest.kind != "raw"]
            try:
                timeline = service.timeline(source)
            except Exception:  # not a source here (a remote's snapshots): no history
                return records, False
            return records, any(e.kind == "commits" for e in timeline.entries)

        run_in_background(
            read,
            what=f"list the points of {source}",
            owner=self,
            on_done=lambda found: self._fill(found[0], found[1], wanted),
        )

    def _fill(self, records: list[SnapshotRecord], continuous: bool, wanted: PointWanted) -> None:
        self.records, self.continuous = records, continuous
        self.points.blockSignals(True)
        self.points.clear()
        self.points.addItem("The newest point", NEWEST)
        for record in records:
            self.points.addItem(snapshot_label(record), SNAPSHOT + record.id)
        if continuous or wanted.at is not None:
            self.points.addItem("A moment in time…", MOMENT)
        self.points.blockSignals(False)
        self.select(wanted)

    def select(self, wanted: PointWanted) -> None:
        """Show `wanted` as the point picked (without asking for it)."""
        self.points.blockSignals(True)
        if wanted.snapshot is not None:
            index = self.points.findData(SNAPSHOT + wanted.snapshot)
            if index < 0:
                self.points.addItem(f"Snapshot {wanted.snapshot}", SNAPSHOT + wanted.snapshot)
                index = self.points.count() - 1
        elif wanted.at is not None:
            index = self.points.findData(MOMENT)
            if index < 0:
                self.points.addItem("A moment in time…", MOMENT)
                index = self.points.count() - 1
            self.when.setDateTime(qt_moment(wanted.at))
            self._moment_set = True
        else:
            index = 0
        self.points.setCurrentIndex(index)
        self.points.blockSignals(False)
        self._moment_shown(self.points.currentData() == MOMENT)

    def _moment_shown(self, shown: bool) -> None:
        self.when.setVisible(shown)
        self.show_moment.setVisible(shown)

    def wanted(self) -> PointWanted:
        data = str(self.points.currentData() or NEWEST)
        if data.startswith(SNAPSHOT):
            return PointWanted(self.source, snapshot=data.removeprefix(SNAPSHOT))
        if data == MOMENT:
            at = self.when.dateTime().toPython()
            assert isinstance(at, datetime)
            return PointWanted(self.source, at=at.astimezone())
        return PointWanted(self.source)

    def pick_snapshot(self, snapshot_id: str) -> bool:
        """Show snapshot `snapshot_id` (as if picked)."""
        index = self.points.findData(SNAPSHOT + snapshot_id)
        if index >= 0:
            self.points.setCurrentIndex(index)
            self._activated()
        return index >= 0

    def _activated(self) -> None:
        """A point picked; for "A moment in time", the day and time first, then Show."""
        moment = self.points.currentData() == MOMENT
        self._moment_shown(moment)
        if not moment:
            self.chosen.emit(self.wanted())
            return
        if not self._moment_set:
            self.when.setDateTime(qt_moment(datetime.now(UTC)))
            self._moment_set = True
        self.when.setFocus()

    def _picked(self) -> None:
        self.chosen.emit(self.wanted())
