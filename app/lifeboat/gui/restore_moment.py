"""The restore wizard's "A moment in time": a day and a time to restore, or a commit
chosen from the list of those around it ("just before it went wrong").

Everything read from the history is read in the thread pool (gui/workers.py): the
timeline (what can be restored, and the gaps), the commits around the moment
(Service.commits_near: the segments' indexes only), whether a moment can be restored
(Service.point: the last commit at or before it, or the reason it cannot, which is
shown), and what each visible commit changed, row by row, through the `CommitChanges`
seam (Service.commit_changes once wired; until then the column shows the pages).
Answers to an older question are dropped: only the newest moment asked counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.history.row_changes import TableChange
from lifeboat.core.results import CommitInfo, PointChoice
from lifeboat.gui.messages import error_lines
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.history_status import Timeline

#: commits listed before and after the moment
BEFORE, AFTER = 20, 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: (source, commit time_us) -> what that commit changed, table by table
CommitChanges = Callable[[str, int], Sequence[TableChange]]


def moment_of(time_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_us)


def moment_text(moment: datetime) -> str:
    """A commit's moment in local time, to the millisecond: 'Mon 30 Nov 2026 15:03:22.123'."""
    local = moment.astimezone()
    return local.strftime("%a %d %b %Y %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def commit_time_texts(times_us: Sequence[int]) -> list[str]:
    """Each commit's local time to the second; to the millisecond, for every row alike,
    when two listed commits share a second (so no two rows read the same)."""
    seconds = [moment_of(t).astimezone().strftime("%Y-%m-%d %H:%M:%S") for t in times_us]
    if len(set(seconds)) == len(seconds):
        return seconds
    return [
        f"{s}.{moment_of(t).microsecond // 1000:03d}"
        for s, t in zip(seconds, times_us, strict=True)
    ]


def commit_notes(commit: CommitInfo) -> str:
    notes = []
    if commit.after_gap:
        notes.append("after a gap: Lifeboat was not following it just before")
    if commit.merged:
        notes.append("merged catch-up: earlier commits of that moment merged into it")
    return "; ".join(notes)


def changes_text(changes: Sequence[TableChange]) -> str:
    """'items: 2 added, 1 changed; tags: 1 deleted', or 'no rows changed'. SQLite's own
    tables (sqlite_sequence moves with every AUTOINCREMENT insert) are not the app's data."""
    parts = []
    for change in changes:
        if change.table.startswith("sqlite_"):
            continue
        counts = [
            f"{n} {word}"
            for n, word in (
                (change.added, "added"),
                (change.changed, "changed"),
                (change.deleted, "deleted"),
            )
            if n
        ]
        if counts:
            parts.append(f"{change.table}: {', '.join(counts)}")
    return "; ".join(parts) or "no rows changed"


def pages_text(pages: int) -> str:
    return f"{pages} page" + ("" if pages == 1 else "s")


def spans_text(timeline: Timeline) -> str:
    """What can be restored, and the gaps with the reason the timeline gives."""
    spans = [e for e in timeline.entries if e.kind == "commits" and e.end is not None]
    if not spans:
        return "There is no continuous history of this database yet."
    said = []
    for i, span in enumerate(spans):
        end = "now" if i == len(spans) - 1 else moment_text(span.end or span.start)
        said.append(f"from {moment_text(span.start)} to {end}")
    lines = ["Any moment can be restored " + ", and ".join(said) + "."]
    for gap in (e for e in timeline.entries if e.kind == "gap" and e.end is not None):
        lines.append(
            f"Nothing from {moment_text(gap.start)} to {moment_text(gap.end or gap.start)}: "
            f"{gap.reason or 'nothing was captured'}."
        )
    return "\n".join(lines)


def qt_moment(at: datetime) -> QDateTime:
    """`at` (aware) as the QDateTime of the same instant, in local time as the pickers
    show it (built from the instant: PySide's typing has no datetime constructor on
    every version)."""
    return QDateTime.fromMSecsSinceEpoch(round(at.timestamp() * 1000))


class MomentChooser(QWidget):
    """A moment (day and time) and the commits around it; `choice` is the point the
    chosen moment or commit restores (None: none yet, or `refusal` says why not)."""

    changed = Signal()
    #: the timeline was read: whether there is anything to restore
    loaded = Signal(bool)

    def __init__(self, service: Service, changes: CommitChanges | None = None) -> None:
        super().__init__()
        self.service = service
        self.changes = changes
        self.source: str | None = None
        self.at: datetime | None = None
        self.choice: PointChoice | None = None
        self.refusal: str | None = None
        self.commits: list[CommitInfo] = []
        self._asked = 0  # the newest question's number: older answers are dropped
        self._filled: set[int] = set()  # rows whose changes were asked for
        self._listing = 0  # the question whose commits the table shows
        self._build()

    def _build(self) -> None:
        self.spans = QLabel("Reading the history…")
        self.spans.setObjectName("moment-spans")
        self.spans.setWordWrap(True)
        self.when = QDateTimeEdit()
        self.when.setObjectName("moment-when")
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.when.setCalendarPopup(True)
        self.when.dateTimeChanged.connect(self._edited)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(300)  # typing a time: ask once it stops changing
        self._settle.timeout.connect(lambda: self._ask(self._edited_moment(), listing=True))
        self.table = QTreeWidget()
        self.table.setObjectName("moment-commits")
        self.table.setHeaderLabels(["Time", "Pages changed", "Changes", "Notes"])
        self.table.setRootIsDecorated(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # without the rows each commit changed, "Changes" says its pages: shown once
        self.table.setColumnHidden(1, self.changes is None)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        self.table.verticalScrollBar().valueChanged.connect(lambda _v: self._fill_visible())
        self.verdict = QLabel()
        self.verdict.setObjectName("moment-verdict")
        self.verdict.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Restore it as it was at:"))
        row.addWidget(self.when)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.spans)
        layout.addLayout(row)
        layout.addWidget(
            QLabel(
                "Or, just before it went wrong: choose the last good change below "
                "(the list shows the changes around the moment above)."
            )
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(self.verdict)

    # -- the source and its timeline -------------------------------------------------

    def load(self, source: str) -> None:
        """Read `source`'s timeline (in the pool), then ask for now."""
        self.source, self.choice, self.refusal, self.at = source, None, None, None
        self._asked += 1
        asked = self._asked
        self.spans.setText("Reading the history…")
        self.table.clear()
        self.verdict.clear()
        service = self.service
        run_in_background(
            lambda: service.timeline(source),
            what=f"read the timeline of {source}",
            owner=self,
            on_done=lambda timeline: self._timeline(asked, timeline),
            on_failed=lambda exc: self._timeline_failed(asked, exc),
        )

    def _timeline(self, asked: int, timeline: Timeline) -> None:
        if asked != self._asked:
            return
        self.spans.setText(spans_text(timeline))
        starts = [e.start for e in timeline.entries if e.kind == "commits"]
        now = datetime.now(UTC)
        if starts:
            self.when.blockSignals(True)
            self.when.setMinimumDateTime(qt_moment(min(starts).replace(microsecond=0)))
            self.when.setMaximumDateTime(qt_moment(now + timedelta(days=1)))
            self.when.blockSignals(False)
            self.choose_moment(now)
        self.loaded.emit(bool(starts))

    def _timeline_failed(self, asked: int, exc: BaseException) -> None:
        if asked == self._asked:
            self.spans.setText(" ".join(error_lines(exc)))
            self.loaded.emit(False)

    # -- asking: a moment typed, or a commit chosen ----------------------------------

    def choose_moment(self, at: datetime) -> None:
        """Show `at` in the picker, list the commits around it and check it."""
        self.when.blockSignals(True)
        self.when.setDateTime(qt_moment(at))
        self.when.blockSignals(False)
        self._settle.stop()
        self._ask(at, listing=True)

    def _edited(self, _value: QDateTime) -> None:
        self.choice, self.refusal = None, None
        self.verdict.setText("Checking that moment…")
        self.changed.emit()
        self._settle.start()

    def _edited_moment(self) -> datetime:
        edited = self.when.dateTime().toPython()
        assert isinstance(edited, datetime)
        return edited.astimezone()  # a naive local time: this computer's zone

    def _row_chosen(self) -> None:
        items = self.table.selectedItems()
        if not items:
            return
        commit = self.commits[self.table.indexOfTopLevelItem(items[0])]
        self._ask(moment_of(commit.time_us), listing=False)

    def _ask(self, at: datetime, *, listing: bool) -> None:
        source = self.source
        if source is None:
            return
        self._asked += 1
        asked, service = self._asked, self.service
        self.at, self.choice, self.refusal = at, None, None
        self.verdict.setStyleSheet("")
        self.verdict.setText("Checking that moment…")
        self.changed.emit()
        run_in_background(
            lambda: service.point(source, at),
            what=f"find the point of {source} at {at}",
            owner=self,
            on_done=lambda choice: self._checked(asked, choice),
            on_failed=lambda exc: self._refused(asked, exc),
        )
        if listing:
            run_in_background(
                lambda: service.commits_near(source, at, BEFORE, AFTER),
                what=f"list the commits of {source} around {at}",
                owner=self,
                on_done=lambda commits: self._listed(asked, commits),
                on_failed=lambda exc: self._refused(asked, exc),
            )

    def _checked(self, asked: int, choice: PointChoice) -> None:
        if asked != self._asked:
            return
        self.choice = choice
        self.verdict.setText(
            f"Restores it as it was at {moment_text(choice.commit_time)}: right after "
            "the last change captured at or before the moment chosen."
        )
        self.changed.emit()

    def _refused(self, asked: int, exc: BaseException) -> None:
        if asked != self._asked:
            return
        message, hint = error_lines(exc)
        self.choice, self.refusal = None, message
        self.verdict.setStyleSheet(ERROR_STYLE)
        self.verdict.setText(f"{message} {hint}".strip())
        self.changed.emit()

    # -- the list ----------------------------------------------------------------------

    def _listed(self, asked: int, commits: list[CommitInfo]) -> None:
        if asked != self._asked:
            return
        self.commits, self._filled, self._listing = commits, set(), asked
        self.table.blockSignals(True)
        self.table.clear()
        times = commit_time_texts([c.time_us for c in commits])
        for commit, when in zip(commits, times, strict=True):
            changes = "…" if self.changes else pages_text(commit.pages_changed) + " changed"
            item = QTreeWidgetItem([when, str(commit.pages_changed), changes, commit_notes(commit)])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            self.table.addTopLevelItem(item)
        self.table.blockSignals(False)
        if self.at is not None:  # the last commit at or before the moment: the one it restores
            at_us = (self.at - _EPOCH) // timedelta(microseconds=1)
            earlier = [i for i, c in enumerate(commits) if c.time_us <= at_us]
            last = self.table.topLevelItem(earlier[-1]) if earlier else None
            if last is not None:
                self.table.scrollToItem(last)
        QTimer.singleShot(0, self._fill_visible)

    def _fill_visible(self) -> None:
        """Ask what each visible row's commit changed (once per row, in the pool)."""
        if self.changes is None or self.source is None:
            return
        viewport = self.table.viewport().rect()
        for row, commit in enumerate(self.commits):
            item = self.table.topLevelItem(row)
            if item is None or row in self._filled:
                continue
            if not self.table.visualItemRect(item).intersects(viewport):
                continue
            self._filled.add(row)
            self._ask_changes(row, commit)

    def _ask_changes(self, row: int, commit: CommitInfo) -> None:
        changes, source, listing = self.changes, self.source, self._listing
        assert changes is not None and source is not None
        run_in_background(
            lambda: changes(source, commit.time_us),
            what=f"read what the commit of {source} at {commit.time_us} changed",
            owner=self,
            on_done=lambda found: self._show_changes(listing, row, changes_text(found)),
            on_failed=lambda exc: self._show_changes(listing, row, " ".join(error_lines(exc))),
        )

    def _show_changes(self, listing: int, row: int, text: str) -> None:
        item = self.table.topLevelItem(row)
        if listing == self._listing and item is not None:
            item.setText(2, text)
