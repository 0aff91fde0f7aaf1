"""The database form's "Backups go to" row: the folder its snapshots go to, the free
space there, a warning when it is on the database's own disk, and "Change…".

Choosing another folder for a database that has snapshots asks whether to move them
there too. Moving runs at once, in the background (Service.move_snapshots: every
snapshot is copied and checked before the old files go, and a kill leaves them usable
in one place or the other), and says its result in words; keeping them where they are,
or a database with none yet, only stages the new folder, saved with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.fsutil import free_bytes
from lifeboat.core.snapshot_move import MoveReport
from lifeboat.foundation.units import format_bytes
from lifeboat.gui.first_run_choices import on_same_disk
from lifeboat.gui.messages import error_lines, open_box
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.text import plural
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.source_changes import SourceDraft

WARNING_STYLE = "color: #b06000;"


@dataclass(frozen=True)
class Place:
    """What the row shows about a folder (found off the GUI thread)."""

    folder: Path
    free: int | None  # bytes, None when it cannot be told
    same_disk: bool  # on the disk that holds the database
    saved_count: int  # snapshots in the folder the config names now


def find_place(service: Service, draft: SourceDraft) -> Place:
    """Where `draft`'s snapshots go, with the free space and the disk check."""
    folder = service.planned_snapshot_folder(draft.name, draft.dest)
    try:
        free: int | None = free_bytes(folder)
    except OSError:
        free = None
    count = 0
    if not draft.is_new:
        saved = service.planned_snapshot_folder(draft.name, draft.saved_dest)
        count = sum(1 for s in service.snapshots(draft.name) if s.local and s.folder == saved)
    return Place(folder, free, bool(on_same_disk(folder, [draft.path])), count)


def move_result(report: MoveReport) -> str:
    """What a move did, in words."""
    text = f"Moved {plural(len(report.moved), 'snapshot')} to {report.new_folder}."
    if report.history_segments:
        text = text[:-1] + ", with the history of every change."
    if report.damaged:
        text += (
            f" {plural(len(report.damaged), 'of them was', 'of them were')} already damaged "
            "before the move, and moved as they were."
        )
    if report.left:
        text += (
            f" {plural(len(report.left), 'file')} that {'is' if len(report.left) == 1 else 'are'}"
            f" not part of a complete snapshot stayed in {report.old_folder}."
        )
    return text


class BackupFolderRow(QWidget):
    #: a folder chosen for the draft, to be saved with the rest (Path | None)
    staged = Signal(object)
    #: the snapshots of source `name` were moved and the folder saved: (name, Path)
    moved = Signal(str, object)

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.draft: SourceDraft | None = None
        self.place: Place | None = None
        self.picker: QFileDialog | None = None
        self.question: QMessageBox | None = None
        self.moving = False
        self._asked = 0
        self._build()

    def _build(self) -> None:
        self.folder = QLabel()
        self.folder.setObjectName("backup-folder")
        self.folder.setWordWrap(True)
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change = QPushButton("C&hange…")
        self.change.setObjectName("backup-folder-change")
        self.change.clicked.connect(self.pick_folder)
        self.details = QLabel(" ")
        self.details.setObjectName("backup-folder-details")
        self.details.setWordWrap(True)
        self.details.setEnabled(False)
        self.warning = QLabel()
        self.warning.setObjectName("backup-folder-warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.hide()
        self.progress = QProgressBar()
        self.progress.setObjectName("backup-folder-progress")
        self.progress.setRange(0, 0)  # busy: the move says no fractions
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self.result = QLabel()
        self.result.setObjectName("backup-folder-result")
        self.result.setWordWrap(True)
        self.result.hide()
        top = QHBoxLayout()
        top.addWidget(self.folder, 1)
        top.addWidget(self.change, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        for widget in (self.details, self.warning, self.progress, self.result):
            layout.addWidget(widget)
        self.folder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    # -- showing -------------------------------------------------------------------------

    def load(self, draft: SourceDraft) -> None:
        """Show where `draft`'s snapshots go (the details arrive from the background)."""
        changed_source = self.draft is None or self.draft.name != draft.name
        self.draft = draft
        self.change.setEnabled(not self.moving)
        if changed_source and not self.moving:
            self.result.hide()
        self._asked += 1
        asked = self._asked
        self.folder.setText(str(self.service.planned_snapshot_folder(draft.name, draft.dest)))
        run_in_background(
            lambda: find_place(self.service, draft),
            what=f"look at the snapshot folder of {draft.name}",
            on_done=lambda place: self._show(asked, place),
            on_failed=lambda exc: self._show(asked, None),
            owner=self,
        )

    def _show(self, asked: int, place: Place | None) -> None:
        if asked != self._asked or self.draft is None:
            return  # another database, or another folder, was chosen since
        self.place = place
        if place is None:
            self.details.setText("Its free space cannot be told now.")
            self.warning.hide()
            return
        self.folder.setText(str(place.folder))
        parts = [f"{format_bytes(place.free)} free there" if place.free is not None else ""]
        if self.draft.dest != self.draft.saved_dest and place.saved_count:
            parts.append(
                f"the {plural(place.saved_count, 'snapshot')} it has stay in the old folder, "
                "still listed and restorable"
            )
        if self.draft.dest != self.draft.saved_dest and not self.draft.is_new:
            parts.append("changed when you click Save")
        text = "; ".join(p for p in parts if p)
        self.details.setText(text[:1].upper() + text[1:] + "." if text else " ")
        self.warning.setText(
            "This folder is on the same disk as the database: if that disk fails, the "
            "snapshots are lost with it. A folder on another disk keeps them safe."
        )
        self.warning.setVisible(place.same_disk)

    # -- changing ------------------------------------------------------------------------

    def pick_folder(self) -> QFileDialog:
        """Open the folder picker (without blocking); the chosen folder is used."""
        start = self.place.folder.parent if self.place is not None else Path.home()
        picker = QFileDialog(self, "Choose where the snapshots go", str(start))
        picker.setObjectName("backup-folder-picker")
        picker.setFileMode(QFileDialog.FileMode.Directory)
        picker.setOption(QFileDialog.Option.ShowDirsOnly, True)
        picker.fileSelected.connect(lambda path: self.choose(Path(path)))
        picker.open()
        self.picker = picker
        return picker

    def choose(self, root: Path) -> None:
        """Snapshots go to `root` from now on: move the ones there are, or stage it."""
        draft = self.draft
        if draft is None or self.moving:
            return
        root = root.expanduser().absolute()
        count = self.place.saved_count if self.place is not None else 0
        if draft.is_new or not count or root == draft.saved_dest:
            self.staged.emit(root)
            return
        self.question = self._ask_move(draft, root, count)

    def _ask_move(self, draft: SourceDraft, root: Path, count: int) -> QMessageBox:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Move the snapshots?",
            f"Move the {plural(count, 'existing snapshot')} of {draft.title} there too?",
            parent=self,
        )
        box.setObjectName("move-snapshots-question")
        box.setInformativeText(
            f"New snapshots will go to {root / draft.name}. Moving copies each snapshot "
            "and checks it before the old copy is removed; it starts now. Kept where they "
            "are, they stay listed and restorable."
        )
        move = box.addButton("&Move them", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("&Keep them where they are", QMessageBox.ButtonRole.ActionRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(move)
        box.setEscapeButton(cancel)

        def answered() -> None:
            if box.clickedButton() is move:
                self.move_to(draft, root, count)
            elif box.clickedButton() is keep:
                self.staged.emit(root)

        box.finished.connect(answered)
        open_box(box)
        return box

    def move_to(self, draft: SourceDraft, root: Path, count: int) -> None:
        """Move `draft`'s snapshots to `root` now, in the background."""
        self.moving = True
        self.change.setEnabled(False)
        self.progress.show()
        self.result.setStyleSheet("")
        self.result.setText(f"Moving {plural(count, 'snapshot')} to {root / draft.name}…")
        self.result.show()
        run_in_background(
            lambda: self.service.move_snapshots(draft.name, root),
            what=f"move the snapshots of {draft.name}",
            on_done=lambda report: self._moved(draft, root, report),
            on_failed=self._move_failed,
            owner=self,
            work=True,
        )

    def _moved(self, draft: SourceDraft, root: Path, report: MoveReport) -> None:
        self._finish()
        self.result.setText(move_result(report))
        self.moved.emit(draft.name, root)

    def _move_failed(self, exc: BaseException) -> None:
        self._finish()
        message, hint = error_lines(exc)
        self.result.setStyleSheet(ERROR_STYLE)
        self.result.setText(f"The snapshots were not moved. {message} {hint}".strip())

    def _finish(self) -> None:
        self.moving = False
        self.progress.hide()
        self.change.setEnabled(True)
