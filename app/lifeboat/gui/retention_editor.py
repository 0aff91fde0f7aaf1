"""Retention as fields: keep the last N, one per hour/day/week/month/year for N of them,
everything within a span; with a live preview of what it would do now.

The preview runs the real retention function over the source's snapshots
(service.retention_preview) in the background, a moment after the last change:
"keeps 12, deletes 5, frees 310 MB", and lists each snapshot with why it is kept (the
newest, the last of its day, pinned by you, needed by a kept snapshot) or that it would
be removed (retention_plan_view.py).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from lifeboat.core.results import PrunePlan
from lifeboat.core.retention import BUCKETS, KeepSpecError, parse_keep
from lifeboat.core.retention_reasons import explain_plan, span_spec, span_words
from lifeboat.gui.retention_plan_view import RetentionPlanView
from lifeboat.gui.text import plural, size_text
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service

ERROR_STYLE = "color: #c5221f;"
PREVIEW_DELAY_MS = 250
_LABELS = {
    "last": ("Newest snapshots", "snapshots"),
    "hourly": ("One per hour, for", "hours"),
    "daily": ("One per day, for", "days"),
    "weekly": ("One per week, for", "weeks"),
    "monthly": ("One per month, for", "months"),
    "yearly": ("One per year, for", "years"),
}


class RetentionEditor(QWidget):
    changed = Signal()

    def __init__(
        self,
        service: Service,
        parent: QWidget | None = None,
        *,
        intro: str = (
            "Which snapshots to keep. Lifeboat deletes the others after each "
            "backup; pinned and safety snapshots are always kept."
        ),
        preview: bool = True,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.source: str | None = None
        self._original = ""
        self._loading = False
        self._asked = 0
        self.counts: dict[str, QSpinBox] = {}
        form = QFormLayout(self)
        intro_label = QLabel(intro)
        intro_label.setWordWrap(True)
        form.addRow(intro_label)
        for bucket in BUCKETS:
            label, unit = _LABELS[bucket]
            spin = QSpinBox()
            spin.setObjectName(f"keep-{bucket}")
            spin.setRange(0, 9999)
            spin.valueChanged.connect(self._edit)
            self.counts[bucket] = spin
            row = QHBoxLayout()
            row.addWidget(spin)
            row.addWidget(QLabel(unit if bucket != "last" else ""))
            row.addStretch(1)
            form.addRow(label, row)
        self._add_within_row(form)
        self.error_label = QLabel()
        self.error_label.setObjectName("keep-error")
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form.addRow(self.error_label)
        self.preview = QLabel()
        self.preview.setObjectName("keep-preview")
        self.preview.setWordWrap(True)
        self.plan = RetentionPlanView()
        if preview:  # of this computer's snapshots: a remote's rules have none to show
            form.addRow("If applied now:", self.preview)
            form.addRow(self.plan)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._ask_preview)

    def _add_within_row(self, form: QFormLayout) -> None:
        """'Everything from the last [30 days]'."""
        self.within_on = QCheckBox("Everything from the last")
        self.within_on.setObjectName("keep-within-on")
        self.within = QLineEdit()
        self.within.setObjectName("keep-within")
        self.within.setPlaceholderText("30 days")
        self.within.setMaximumWidth(120)
        self.within.setToolTip("A span like 48 hours, 30 days, 8 weeks, 6 months or 1 year")
        self.within_on.toggled.connect(self._edit)
        self.within.textChanged.connect(self._edit)
        within_row = QHBoxLayout()
        within_row.addWidget(self.within)
        within_row.addStretch(1)
        form.addRow(self.within_on, within_row)

    # -- the value -----------------------------------------------------------------------

    def set_keep(self, spec: str, source: str | None) -> None:
        self._loading = True
        try:
            self.source = source
            self._original = spec
            values = _fields(spec)
            for bucket, spin in self.counts.items():
                text = values.get(bucket, "0")
                spin.setValue(int(text) if text.isdigit() else 0)
            self.within_on.setChecked("within" in values)
            self.within.setText(span_words(values.get("within", "30d")))
        finally:
            self._loading = False
        self._update()

    def keep(self) -> str:
        parts = [f"{b}={spin.value()}" for b, spin in self.counts.items() if spin.value()]
        if self.within_on.isChecked():
            parts.append(f"within={span_spec(self.within.text())}")
        return ",".join(parts) or "last=1"

    def error(self) -> str | None:
        try:
            parse_keep(self.keep())
        except KeepSpecError as exc:
            if str(exc).startswith("within="):
                return (
                    f"“{self.within.text().strip()}” is not a span of time; write it like "
                    "30 days, 8 weeks, 6 months or 1 year"
                )
            return str(exc)
        return None

    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    # -- internals -----------------------------------------------------------------------

    def _edit(self) -> None:
        if self._loading:
            return
        self._update()
        self.changed.emit()

    def _update(self) -> None:
        self.within.setEnabled(self.within_on.isChecked())
        problem = self.error()
        self.show_error(problem)
        if problem:
            self.preview.setText("—")
            self.plan.show_lines([])
            return
        if self.source is None:
            self.preview.setText("no snapshots yet")
            self.plan.show_lines([])
            return
        self.preview.setText("working it out…")
        self._timer.start(PREVIEW_DELAY_MS)

    def _ask_preview(self) -> None:
        if self.source is None or self.error():
            return
        self._asked += 1
        asked, source, keep = self._asked, self.source, self.keep()
        run_in_background(
            lambda: self.service.retention_preview(source, keep),
            what=f"preview retention of {source}",
            on_done=lambda plan: self._show_preview(asked, plan),
            on_failed=lambda exc: self._show_preview(asked, None),
            owner=self,
        )

    def _show_preview(self, asked: int, plan: PrunePlan | None) -> None:
        if asked != self._asked:
            return  # a newer edit asked again
        if plan is None:
            self.preview.setText("cannot tell now")
            self.plan.show_lines([])
            return
        self.plan.show_lines(explain_plan(plan.decisions))
        kept, forgotten = len(plan.kept), len(plan.forgotten)
        if not kept and not forgotten:
            self.preview.setText("no snapshots yet")
        elif not forgotten:
            self.preview.setText(
                "keeps its only snapshot"
                if kept == 1
                else f"keeps all {plural(kept, 'snapshot')}, deletes none"
            )
        else:
            self.preview.setText(
                f"keeps {kept}, deletes {forgotten}, frees {size_text(plan.freed)}"
            )


def _fields(spec: str) -> dict[str, str]:
    """A keep spec's fields as written, valid or not (a draft may hold a bad one)."""
    values = {}
    for part in spec.replace(" ", "").split(","):
        key, _, value = part.partition("=")
        values[key.lower()] = value
    return values
