"""The first run: a short guided flow instead of the four-tab Settings.

Pick databases, where their snapshots go, how often, a remote (or skip it), starting at
login; then Lifeboat saves that and takes the first backups, showing their progress.
Nothing technical is asked: names safe for files are derived from the file names, which
stay the names shown. It opens when there are no databases yet (TrayApp) and can be
opened again to add more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget, QWizard, QWizardPage

from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.states import Trigger
from lifeboat.gui.autostart import LoginItem
from lifeboat.gui.continuous_box import protected_continuously_by_default
from lifeboat.gui.first_run_choices import source_names
from lifeboat.gui.first_run_pages import (
    DatabasesPage,
    FolderPage,
    LoginPage,
    RemotePage,
    SchedulePage,
)
from lifeboat.gui.messages import show_error
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.remote_changes import RemoteDraft, remote_problems


@dataclass(frozen=True)
class FirstRunChoices:
    databases: list[Path]
    dest: Path | None
    schedule: str
    remote: RemoteDraft | None


class PartlySaved(Exception):
    """Saving stopped part way: what was saved stays saved (Settings shows it)."""

    def __init__(self, cause: BaseException, remote: str | None, added: list[str]) -> None:
        super().__init__(str(cause))
        self.cause, self.remote, self.added = cause, remote, added


def set_up(service: Service, choices: FirstRunChoices) -> list[str]:
    """Save the choices (the remote first: the databases upload to it); the names of the
    databases added. Runs in the background. Raises PartlySaved when it stopped after
    saving some of them."""
    remote: str | None = None
    added: list[str] = []
    try:
        return _save_choices(service, choices, added)
    except Exception as exc:
        if choices.remote is not None and choices.remote.name in service.config().remotes:
            remote = choices.remote.name
        if remote is None and not added:
            raise
        raise PartlySaved(exc, remote, added) from exc


def _save_choices(service: Service, choices: FirstRunChoices, added: list[str]) -> list[str]:
    if choices.remote is not None:
        key_id, secret = choices.remote.credentials_given()
        service.add_remote(
            choices.remote.name, access_key_id=key_id, secret=secret, **choices.remote.settings()
        )
    taken = [s.name for s in service.sources()]
    for path, (name, shown) in zip(
        choices.databases, source_names(choices.databases, taken), strict=True
    ):
        source = service.add_source(
            path,
            name=name,
            display_name=shown if shown != name else None,
            dest=choices.dest,
            schedule=choices.schedule,
            remote=choices.remote.name if choices.remote is not None else None,
            continuous=protected_continuously_by_default(path),
        )
        added.append(source.name)
    return added


class BackupPage(QWizardPage):
    """Saves the choices, then takes each database's first backup with its progress."""

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.flow = wizard
        self.setTitle("Taking the first backups")
        self.status = QLabel(" ")
        self.status.setObjectName("first-run-status")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setObjectName("first-run-progress")
        self.bar.setRange(0, 1000)
        self.problems = QLabel(" ")
        self.problems.setObjectName("first-run-problems")
        self.problems.setStyleSheet(ERROR_STYLE)
        self.problems.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        layout.addWidget(self.problems)
        layout.addStretch(1)
        self.added: list[str] = []
        self.failed: list[str] = []
        self.done = False

    def initializePage(self) -> None:
        self.status.setText("Saving your choices…")
        choices = self.flow.choices()
        run_in_background(
            lambda: set_up(self.flow.service, choices),
            what="set up the first databases",
            owner=self,
            on_done=self._saved,
            on_failed=self._not_saved,
        )

    def _saved(self, added: list[str]) -> None:
        self.added = added
        self.flow.saved(added)
        self._next(0)

    def _not_saved(self, exc: BaseException) -> None:
        if isinstance(exc, PartlySaved):
            kept = ([f"the remote {exc.remote}"] if exc.remote else []) + exc.added
            self.status.setText(
                f"Saved {' and '.join(kept)}; the rest was not. Settings shows what was saved."
            )
            self.problems.setText(_in_words(exc.cause))
            self.flow.saved(exc.added)
        else:
            self.status.setText("Nothing was saved.")
            self.problems.setText(_in_words(exc))
        self.done = True
        self.completeChanged.emit()

    def _next(self, index: int) -> None:
        if index >= len(self.added):
            self._finished()
            return
        name = self.added[index]
        shown = self.flow.service.source(name).title
        self.status.setText(f"Backing up {shown} ({index + 1} of {len(self.added)})…")
        self.bar.setValue(0)

        def progress(phase: str, done: int, total: int) -> None:
            if total > 0:
                self.bar.setValue(min(1000, done * 1000 // total))

        run_in_background(
            lambda progress_, cancel: self.flow.service.run_backup(
                name, trigger=Trigger.MANUAL, progress=progress_, cancel=cancel
            ),
            what=f"back up {name}",
            work=True,
            owner=self,
            on_progress=progress,
            on_done=lambda outcome: self._backed_up(index, outcome.upload_error),
            on_failed=lambda exc: self._backup_failed(index, exc),
        )

    def _backed_up(self, index: int, upload_error: BaseException | None) -> None:
        if upload_error is not None:
            shown = self.flow.service.source(self.added[index]).title
            self.failed.append(
                f"{shown} was backed up here, not uploaded: {_in_words(upload_error)}"
            )
        self._next(index + 1)

    def _backup_failed(self, index: int, exc: BaseException) -> None:
        shown = self.flow.service.source(self.added[index]).title
        self.failed.append(f"{shown} could not be backed up: {_in_words(exc)}")
        self._next(index + 1)

    def _finished(self) -> None:
        self.bar.setValue(1000)
        schedule = self.flow.service.source(self.added[0]).backup_schedule.describe()
        self.status.setText(
            ("All set. " if not self.failed else "Set up. ")
            + f"Lifeboat backs up {_names(self.flow, self.added)} {_lower(schedule)}, "
            "from the system tray."
        )
        self.problems.setText("\n".join(self.failed) or " ")
        self.done = True
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.done


class FirstRunWizard(QWizard):
    def __init__(
        self,
        service: Service,
        *,
        login_item: LoginItem | None = None,
        on_saved: Callable[[list[str]], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("first-run")
        self.setWindowTitle("Set up Lifeboat")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.service = service
        self.login_item = login_item or LoginItem()
        self._on_saved = on_saved
        self.databases = DatabasesPage()
        self.folder = FolderPage(service.snapshot_folder(), self.databases)
        self.schedule = SchedulePage()
        self.remote = RemotePage(service.secrets.place())
        self.login = LoginPage()
        self.backup = BackupPage(self)
        for page in (
            self.databases,
            self.folder,
            self.schedule,
            self.remote,
            self.login,
            self.backup,
        ):
            self.addPage(page)
        self.resize(680, 640)

    def choices(self) -> FirstRunChoices:
        return FirstRunChoices(
            databases=list(self.databases.paths),
            dest=self.folder.dest(),
            schedule=self.schedule.spec(),
            remote=self.remote.draft(),
        )

    def validateCurrentPage(self) -> bool:
        page = self.currentPage()
        if page is self.remote and self.remote.draft() is not None:
            draft = self.remote.draft()
            assert draft is not None
            problems = remote_problems(
                draft, self.service.config(), list(self.service.config().remotes)
            )
            self.remote.form.show_problems(problems)
            return not problems
        if page is self.login:
            try:
                self.login_item.set_enabled(self.login.start.isChecked())
            except LifeboatError as exc:  # said; the rest of the set-up goes on
                show_error(self, exc, title="Could not change starting at login")
        return True

    def saved(self, added: list[str]) -> None:
        if self._on_saved is not None:
            self._on_saved(added)


def _in_words(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message[:1].upper() + message[1:]


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _names(wizard: FirstRunWizard, names: list[str]) -> str:
    shown = [wizard.service.source(n).title for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
