"""The first-run flow's choosing pages: which databases, where their snapshots go, how
often, a remote (or not), and starting at login. Each page only collects; first_run.py
saves the choices and takes the first backups."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTime
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QRadioButton,
    QTimeEdit,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from lifeboat.core.fsutil import free_bytes
from lifeboat.foundation.units import format_bytes
from lifeboat.gui.continuous_box import FIRST_RUN_NOTE
from lifeboat.gui.first_run_choices import (
    DAILY,
    HOURLY,
    WEEKLY,
    mount_candidates,
    on_same_disk,
    other_disks,
    schedule_spec,
)
from lifeboat.gui.remote_form import RemoteForm
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import run_in_background
from lifeboat.service.remote_changes import RemoteDraft
from lifeboat.service.source_changes import check_database

DATABASE_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3 *.db3);;All files (*)"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _note(name: str, text: str = "", *, error: bool = False) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    if error:
        label.setStyleSheet(ERROR_STYLE)
    return label


class DatabasesPage(QWizardPage):
    """Pick one or more databases: with the file dialog, or dropped on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Which databases should Lifeboat keep safe?")
        self.setSubTitle("Choose SQLite database files, or drop them here.")
        self.setAcceptDrops(True)
        self.paths: list[Path] = []
        self._asked: list[Path] = []  # every file given, in order
        self._checking = 0
        self.list = QListWidget()
        self.list.setObjectName("first-run-databases")
        self.add_button = QPushButton("&Choose a database…")
        self.add_button.setObjectName("first-run-add")
        self.add_button.clicked.connect(self.pick)
        self.remove_button = QPushButton("&Remove from the list")
        self.remove_button.clicked.connect(self._remove_selected)
        self.problem = _note("first-run-database-problem", " ", error=True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        every_change = _note("first-run-continuous", FIRST_RUN_NOTE)
        every_change.setEnabled(False)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(every_change)
        layout.addWidget(self.problem)
        self.picker: QFileDialog | None = None

    def pick(self) -> QFileDialog:
        picker = QFileDialog(self, "Choose databases to back up", str(Path.home()), DATABASE_FILTER)
        picker.setObjectName("first-run-picker")
        picker.setFileMode(QFileDialog.FileMode.ExistingFiles)
        picker.filesSelected.connect(self._add_all)
        picker.open()
        self.picker = picker
        return picker

    def _add_all(self, paths: list[str]) -> None:
        for path in paths:
            self.add(Path(path))

    def add(self, path: Path) -> None:
        """Check the file in the background (it opens the database), then list it."""
        self._checking += 1
        if path not in self._asked:
            self._asked.append(path)
        self.problem.setText(" ")  # (a problem with a file added before stays said)
        self.completeChanged.emit()
        run_in_background(
            lambda: check_database(path),
            what=f"check {path}",
            owner=self,
            on_done=self._checked,
            on_failed=lambda exc: self._failed(path, exc),
        )

    def _checked(self, path: Path) -> None:
        self._checking -= 1
        if path not in self.paths:  # listed in the order they were given
            self.paths.append(path)
            self.paths.sort(key=self._asked.index)
            self.list.insertItem(self.paths.index(path), f"{path.name}  —  {path.parent}")
        self.completeChanged.emit()

    def _failed(self, path: Path, exc: BaseException) -> None:
        self._checking -= 1
        reason = getattr(exc, "message", None) or str(exc)
        self.problem.setText(f"{path.name} cannot be backed up: {reason}")
        self.completeChanged.emit()

    def _remove_selected(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.paths):
            del self.paths[row]
            self.list.takeItem(row)
            self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.paths) and self._checking == 0

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add(Path(url.toLocalFile()))
        event.acceptProposedAction()


class FolderPage(QWizardPage):
    """Where snapshots go: the default shown, another disk suggested, a warning when the
    folder is on the same disk as a database."""

    def __init__(self, default_root: Path, databases: DatabasesPage) -> None:
        super().__init__()
        self.setTitle("Where should the snapshots go?")
        self.setSubTitle("Each database gets its own folder in there.")
        self.default_root = default_root
        self.databases = databases
        self.root = default_root
        self.folder = _note("first-run-folder")
        self.free = _note("first-run-free")
        self.free.setEnabled(False)
        change = QPushButton("C&hoose another folder…")
        change.setObjectName("first-run-change-folder")
        change.clicked.connect(self._choose)
        self.suggestion = _note("first-run-suggestion")
        self.use_suggestion = QPushButton("&Use that disk")
        self.use_suggestion.setObjectName("first-run-use-suggestion")
        self.use_suggestion.clicked.connect(self._use_suggested)
        self.warning = _note("first-run-same-disk", error=True)
        self.suggested: Path | None = None
        row = QHBoxLayout()
        row.addWidget(change)
        row.addWidget(self.use_suggestion)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        for widget in (self.folder, self.free):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.suggestion)
        layout.addWidget(self.warning)
        layout.addStretch(1)
        self.candidates = mount_candidates

    def initializePage(self) -> None:
        disks = other_disks(self.databases.paths, self.candidates())
        self.suggested = disks[0] / "Lifeboat" if disks else None
        self.show_root(self.root)

    def show_root(self, root: Path) -> None:
        self.root = root
        self.folder.setText(f"Snapshots go to: <b>{root}</b>")
        try:
            self.free.setText(f"{format_bytes(free_bytes(root))} free on that disk")
        except OSError:
            self.free.setText(" ")
        same = on_same_disk(root, self.databases.paths)
        self.warning.setText(
            "This folder is on the same disk as "
            + ", ".join(p.name for p in same)
            + ": if that disk fails, the snapshots are lost with the database. "
            "A folder on another disk keeps them safe."
            if same
            else " "
        )
        show = self.suggested is not None and self.suggested != root
        self.suggestion.setText(
            f"Another disk is connected: {self.suggested.parent}. Snapshots kept there "
            "survive the loss of this computer's disk."
            if show and self.suggested is not None
            else " "
        )
        self.use_suggestion.setVisible(show)

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder for the snapshots")
        if chosen:
            self.show_root(Path(chosen))

    def _use_suggested(self) -> None:
        if self.suggested is not None:
            self.show_root(self.suggested)

    def dest(self) -> Path | None:
        """The folder chosen (None: Lifeboat's own default)."""
        return None if self.root == self.default_root else self.root


class SchedulePage(QWizardPage):
    """How often, in plain choices."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("How often should Lifeboat back them up?")
        self.setSubTitle("A backup missed while the computer was off is taken when it is on again.")
        self.hourly = QRadioButton("Every &hour")
        self.daily = QRadioButton("Every &day at")
        self.weekly = QRadioButton("Every &week on")
        group = QButtonGroup(self)
        for number, button in enumerate((self.hourly, self.daily, self.weekly)):
            button.setObjectName(f"first-run-{(HOURLY, DAILY, WEEKLY)[number]}")
            group.addButton(button)
        self.daily.setChecked(True)
        self.day_time = QTimeEdit(QTime(3, 0))
        self.day_time.setDisplayFormat("HH:mm")
        self.weekday = QComboBox()
        self.weekday.addItems(list(WEEKDAYS))
        self.week_time = QTimeEdit(QTime(3, 0))
        self.week_time.setDisplayFormat("HH:mm")
        grid = QGridLayout(self)
        grid.addWidget(self.hourly, 0, 0)
        grid.addWidget(self.daily, 1, 0)
        grid.addWidget(self.day_time, 1, 1)
        grid.addWidget(self.weekly, 2, 0)
        grid.addWidget(self.weekday, 2, 1)
        grid.addWidget(QLabel("at"), 2, 2)
        grid.addWidget(self.week_time, 2, 3)
        grid.setColumnStretch(4, 1)
        grid.setRowStretch(3, 1)

    def spec(self) -> str:
        if self.hourly.isChecked():
            return schedule_spec(HOURLY)
        if self.weekly.isChecked():
            at = self.week_time.time().toString("HH:mm")
            return schedule_spec(WEEKLY, at, self.weekday.currentIndex())
        return schedule_spec(DAILY, self.day_time.time().toString("HH:mm"))


class RemotePage(QWizardPage):
    """Optionally, a copy in cloud storage (the Remote form of Settings); skippable."""

    def __init__(self, secrets_place: str) -> None:
        super().__init__()
        self.setTitle("Keep a copy away from this computer? (optional)")
        self.setSubTitle(
            "A copy in cloud storage survives a lost or stolen computer. "
            "You can skip this and add it later in Settings."
        )
        self.use = QCheckBox("&Also upload the snapshots to cloud storage")
        self.use.setObjectName("first-run-use-remote")
        self.form = RemoteForm(secrets_place=secrets_place)
        rows = self.form.layout()
        if isinstance(rows, QFormLayout):  # the databases are the ones chosen here
            rows.setRowVisible(self.form.sources_box, False)
        self.form.load(RemoteDraft(name="cloud", is_new=True), {}, [])
        self.form.setEnabled(False)
        self.form.encrypt.setEnabled(False)
        self.form.encrypt.setToolTip("Encryption can be switched on later in Settings")
        self.use.toggled.connect(self.form.setEnabled)
        self.use.toggled.connect(lambda on: self.form.encrypt.setEnabled(False))
        layout = QVBoxLayout(self)
        layout.addWidget(self.use)
        layout.addWidget(self.form, 1)

    def draft(self) -> RemoteDraft | None:
        return self.form.current() if self.use.isChecked() else None


class LoginPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Start Lifeboat when you log in?")
        self.setSubTitle("Lifeboat waits in the system tray and backs up on time.")
        self.start = QCheckBox("&Start Lifeboat when I log in (recommended)")
        self.start.setObjectName("first-run-login")
        self.start.setChecked(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.start)
        layout.addWidget(
            _note(
                "first-run-login-hint",
                "Without it, backups run only while Lifeboat is open.",
            )
        )
        layout.addStretch(1)
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Back up now")
