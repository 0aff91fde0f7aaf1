"""Browse's "Bring these back…": rows of a point (the ones selected, or a whole table)
merged into the live database, with the same preview and confirmation as the restore
wizard's.

The preview is the service's dry run (Service.merge_preview): exact counts of the rows
that come back, are put back to their old values and are kept, and the rows themselves
on request. Confirming runs Service.merge_restore with the plan previewed (refused,
nothing changed, if the live database changed meanwhile so the counts differ): a
protected safety snapshot first, then one transaction. All of it in the thread pool;
refusals are said in words.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest
from lifeboat.foundation.errors import Cancelled
from lifeboat.gui.browse_compare import point_words
from lifeboat.gui.browse_models import cell_text
from lifeboat.gui.messages import error_lines
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.text import percent, phase_text, plural
from lifeboat.gui.workers import Task, run_in_background
from lifeboat.service import Service
from lifeboat.service.point_browse import Key, TableInfo
from lifeboat.service.point_reading import PointLabel

SHOWN_ROWS = 200
MODES = (
    ("both", "Rows deleted or changed since"),
    ("deleted", "Only rows deleted since"),
    ("changed", "Only rows changed since (put back to their old values)"),
)


def plan_lines(plan: MergePlan) -> list[str]:
    """The preview's counts, in sentences."""
    if plan.create_table:
        return [
            f"The table {plan.live_table} is not in the live database any more: it is "
            f"created again with its {plural(plan.deleted, 'row')}."
        ]
    lines = [
        f"{plural(plan.to_insert, 'row')} come back (deleted since).",
        f"{plural(plan.overwritten, 'row')} are put back to their old values.",
    ]
    if plan.skipped_changed:
        n = plan.skipped_changed
        kept = _verb(n, "is kept as it is", "are kept as they are")
        lines.append(f"{plural(n, 'row')} changed since {kept} now.")
    lines.append(
        f"{plural(plan.added, 'row')} added since and {plural(plan.unchanged, 'row')} "
        "that did not change are kept."
    )
    if plan.conflicts:
        lines.append(
            f"{plural(plan.conflicts, 'row')} {_verb(plan.conflicts, 'is', 'are')} left out: "
            "each would clash with a row the "
            "database holds now (a unique value)."
        )
    lines += [f"Note: {note}." for note in plan.notes]
    if not plan.changes_anything:
        lines.append("Nothing to bring back: the live database holds these rows already.")
    return lines


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def done_lines(outcome: MergeOutcome, source: str) -> list[str]:
    lines = [
        f"Brought back {plural(outcome.inserted, 'row')} and put back "
        f"{plural(outcome.updated, 'row')} in {outcome.plan.live_table}, from {outcome.past}."
    ]
    if outcome.safety_id:
        lines.append(
            f"{source} as it was just before is kept as protected safety snapshot "
            f"{outcome.safety_id} (see History): restoring it undoes this."
        )
    return lines


@dataclass(frozen=True)
class ChosenRows:
    """Which rows of the point's table are to come back: `where` (None: the whole
    table), said in `words` ("the 12 rows selected", "the 40 rows the search … finds")."""

    where: str | None
    words: str

    @classmethod
    def of_keys(cls, table: TableInfo, keys: list[Key]) -> ChosenRows:
        return cls(table.key_condition(keys), f"the {_rows(len(keys))} selected")

    @classmethod
    def of_search(cls, table: TableInfo, search: str, found: int | None) -> ChosenRows:
        """What a search shows: the rows it finds, not the whole table."""
        many = "every row" if found is None else f"the {_rows(found)}"
        return cls(table.search_condition(search), f"{many} the search “{search}” finds")

    @classmethod
    def whole(cls, table: TableInfo, rows: int | None) -> ChosenRows:
        counted = "" if rows is None else f" ({_rows(rows)} then)"
        return cls(None, f"the whole table {table.name}{counted}")


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


class BringBackDialog(QDialog):
    def __init__(
        self,
        parent: QWidget,
        service: Service,
        label: PointLabel,
        table: TableInfo,
        chosen: ChosenRows,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("bring-back-dialog")
        self.setWindowTitle(f"Bring back rows of {table.name}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service, self.label, self.table = service, label, table
        self.source = label.source
        self.snapshot = None if label.commit_seq else label.snapshot_id
        self.at = label.time if label.commit_seq else None
        self.where = chosen.where
        self.chosen = chosen
        self.plan: MergePlan | None = None
        self.outcome: MergeOutcome | None = None
        self.task: Task | None = None
        self._asked = 0
        self._build()
        self.resize(720, 520)

    def _build(self) -> None:
        what = self.chosen.words
        headline = QLabel(
            f"<b>Bring back {html.escape(what)}</b> from {html.escape(point_words(self.label))}"
        )
        headline.setObjectName("bring-back-headline")
        headline.setWordWrap(True)
        options = self._build_options()
        self.counts = QLabel("Working out what would change…")
        self.counts.setObjectName("bring-back-preview")
        self.counts.setWordWrap(True)
        self.counts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rows = QTreeWidget()
        self.rows.setObjectName("bring-back-rows")
        self.rows.setHeaderLabels(["What", "The row then", "Now"])
        self.rows.setRootIsDecorated(False)
        header = self.rows.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rows.hide()
        self.safety = QLabel(
            f"Before anything changes, a protected safety snapshot of {self.source} is "
            "taken: restoring it puts the database back as it is now. Rows are brought back "
            "in one transaction while the app keeps working."
        )
        self.safety.setWordWrap(True)
        self.said = QLabel()
        self.said.setObjectName("bring-back-result")
        self.said.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()
        self.confirm = QPushButton("Bring them back")
        self.confirm.setObjectName("bring-back-confirm")
        self.confirm.setEnabled(False)
        self.confirm.clicked.connect(self.bring_back)
        self.close_button = QPushButton("Cancel")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.confirm)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addLayout(options)
        layout.addWidget(self.counts)
        layout.addWidget(self.rows, 1)
        layout.addWidget(self.safety)
        layout.addWidget(self.said)
        layout.addStretch(0)
        layout.addLayout(buttons)

    def _build_options(self) -> QVBoxLayout:
        """Which rows (deleted, changed, both), the conflict policy, the rows shown."""
        self.modes = QButtonGroup(self)
        options = QVBoxLayout()
        for index, (_mode, text) in enumerate(MODES):
            radio = QRadioButton(text)
            radio.setObjectName(f"bring-back-{_mode}")
            radio.setChecked(index == 0)
            self.modes.addButton(radio, index)
            options.addWidget(radio)
        self.modes.idClicked.connect(lambda _i: self.preview())
        self.prefer_past = QCheckBox(
            "Rows changed since: put back their old values "
            "(otherwise they are kept as they are now)"
        )
        self.prefer_past.setObjectName("bring-back-prefer-past")
        self.prefer_past.toggled.connect(lambda _c: self.preview())
        self.show_rows = QCheckBox("Show the rows")
        self.show_rows.setObjectName("bring-back-show-rows")
        self.show_rows.toggled.connect(lambda _c: self.preview())
        options.addWidget(self.prefer_past)
        options.addWidget(self.show_rows)
        return options

    def request(self) -> MergeRequest:
        mode = MODES[max(0, self.modes.checkedId())][0]
        self.prefer_past.setEnabled(mode == "both")
        return MergeRequest(
            table=self.table.name,
            where=self.where,
            mode=mode,
            prefer_past=mode == "both" and self.prefer_past.isChecked(),
            show_rows=SHOWN_ROWS if self.show_rows.isChecked() else 0,
        )

    # -- the preview ----------------------------------------------------------------------

    def preview(self) -> None:
        """The dry run for the options chosen (in the pool)."""
        if self.task is not None or self.outcome is not None:
            return
        self._asked += 1
        asked, request, service = self._asked, self.request(), self.service
        self.plan = None
        self.confirm.setEnabled(False)
        self.counts.setStyleSheet("")
        self.counts.setText("Working out what would change…")
        run_in_background(
            lambda: service.merge_preview(self.source, request, at=self.at, snapshot=self.snapshot),
            what=f"preview bringing back rows of {self.table.name}",
            owner=self,
            on_done=lambda plan: self._previewed(asked, plan),
            on_failed=lambda exc: self._refused(asked, exc),
        )

    def _previewed(self, asked: int, plan: MergePlan) -> None:
        if asked != self._asked:
            return
        self.plan = plan
        self.counts.setText("\n".join(plan_lines(plan)))
        self.confirm.setEnabled(plan.changes_anything)
        self.rows.clear()
        for sample in plan.rows:
            item = QTreeWidgetItem([sample.kind, _values(sample.past), _live(sample.live, sample)])
            item.setToolTip(1, item.text(1))
            self.rows.addTopLevelItem(item)
        self.rows.setVisible(self.show_rows.isChecked())

    def _refused(self, asked: int, exc: BaseException) -> None:
        if asked != self._asked:
            return
        message, hint = error_lines(exc)
        self.counts.setStyleSheet(ERROR_STYLE)
        self.counts.setText(f"This cannot be brought back: {message} {hint}".strip())

    # -- bringing back --------------------------------------------------------------------

    def bring_back(self) -> None:
        plan = self.plan
        if plan is None or self.task is not None:
            return
        request, service = self.request(), self.service
        self.confirm.setEnabled(False)
        self.close_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.said.setStyleSheet("")
        self.said.setText("Taking the safety snapshot, then bringing the rows back…")
        self.task = run_in_background(
            lambda progress, cancel: service.merge_restore(
                self.source,
                request,
                at=self.at,
                snapshot=self.snapshot,
                confirmed=plan,
                progress=progress,
                cancel=cancel,
            ),
            what=f"bring back rows of {self.table.name}",
            owner=self,
            work=True,
            on_done=self._done,
            on_failed=self._failed,
            on_progress=self._progress,
        )

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.progress.setRange(0, 100 if total else 0)
        self.progress.setValue(percent(done, total))
        self.progress.setFormat(f"{phase_text(phase)} %p%")

    def _done(self, outcome: MergeOutcome) -> None:
        self.task, self.outcome = None, outcome
        self.progress.hide()
        self.said.setText("\n".join(done_lines(outcome, self.source)))
        self.close_button.setText("Close")
        self.close_button.setEnabled(True)

    def _failed(self, exc: BaseException) -> None:
        self.task = None
        self.progress.hide()
        self.close_button.setEnabled(True)
        if isinstance(exc, Cancelled):
            self.said.setText("Cancelled. Nothing was changed.")
            return
        message, hint = error_lines(exc)
        self.said.setStyleSheet(ERROR_STYLE)
        self.said.setText(f"Nothing was brought back: {message} {hint}".strip())
        self.preview()

    def reject(self) -> None:
        if self.task is None:
            super().reject()


def _values(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {cell_text(v, 30)}" for k, v in row.items())


def _live(live: dict[str, Any] | None, sample: Any) -> str:
    if sample.kind == "conflict":
        return f"left out: {sample.reason}"
    if live is None:
        return "not in the live database"
    return _values({k: v for k, v in live.items() if sample.past.get(k) != v})
