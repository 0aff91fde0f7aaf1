"""Settings: the databases to back up (settings_databases.py: with their schedules and
checks), retention, remotes (remote_settings.py), and the tray's own preferences
(settings_general.py: start at login, notifications).

Changes are staged here and saved together with Save: every field is checked first and
problems are shown next to their fields; only then is anything written: remotes, then
the sources in one config transaction (remote_changes.save_all).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.schedule_times import resolve_timezone
from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.autostart import LoginItem
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import ask, show_error
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.gui.remote_settings import RemotePage
from lifeboat.gui.retention_editor import RetentionEditor
from lifeboat.gui.settings_databases import (
    EMPTY_PAGE,
    FORM_PAGE,
    DatabasesTab,
    Entry,
    entry_title,
    in_our_words,
    new_source_draft,
)
from lifeboat.gui.settings_general import GeneralTab
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.remote_changes import save_all
from lifeboat.service.source_changes import (
    ChangesRejected,
    SourceDraft,
    check_changes,
    check_database,
)

Saved = Callable[[TrayPreferences, list[str]], None]
DATABASE_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3 *.db3);;All files (*)"
_new_keys = itertools.count(1)
DATABASES_TAB, RETENTION_TAB, REMOTE_TAB, GENERAL_TAB = range(4)


class SettingsDialog(QDialog):
    def __init__(
        self,
        service: Service,
        preferences: TrayPreferences,
        *,
        on_saved: Saved,
        login_item: LoginItem | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settings-dialog")
        self.setWindowTitle("Lifeboat settings")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.on_saved = on_saved
        self.login_item = login_item or LoginItem()
        config = service.config()
        self.tz = resolve_timezone(config.general.timezone)
        self.entries = [Entry(name, SourceDraft.of(src)) for name, src in config.sources.items()]
        self.removed: list[str] = []
        self.current = -1
        self.picker: QFileDialog | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self._databases_tab(), "Databases")
        self.tabs.addTab(self._retention_tab(), "Retention")
        self.remotes = RemotePage(service, config, self)
        self.tabs.addTab(self.remotes, "Remote")
        self.tabs.addTab(self._general_tab(preferences), "General")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.buttons)
        self._refresh_list()
        self._select(0 if self.entries else -1)
        self.resize(840, 600)

    # -- building ----------------------------------------------------------------------

    def _databases_tab(self) -> QWidget:
        tab = DatabasesTab(self.tz, self.service)
        # Its parts the dialog (and its tests) use by name.
        self.source_list = tab.source_list
        self.remove_button = tab.remove_button
        self.form = tab.form
        self.source_pages = tab.pages
        tab.source_list.currentRowChanged.connect(self._select)
        tab.add_button.clicked.connect(self.pick_database)
        tab.remove_button.clicked.connect(self.remove_current)
        tab.form.changed.connect(self._form_changed)
        tab.form.moved.connect(self._snapshots_moved)
        tab.form.names_taken = self._names_taken
        return tab

    def _retention_tab(self) -> QWidget:
        self.retention_source = QComboBox()
        self.retention_source.setObjectName("retention-source")
        self.retention_source.currentIndexChanged.connect(self._select)
        self.retention = RetentionEditor(self.service)
        self.retention.changed.connect(self._form_changed)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        row.addWidget(QLabel("Database:"))
        row.addWidget(self.retention_source, 1)
        layout.addLayout(row)
        layout.addWidget(self.retention)
        layout.addStretch(1)
        return tab

    def _general_tab(self, preferences: TrayPreferences) -> QWidget:
        self.general = GeneralTab(preferences, self.login_item, self.service.paths)
        # Its boxes, by name, for the tests.
        self.start_at_login = self.general.start_at_login
        self.notify_failures = self.general.notify_failures
        self.notify_stale = self.general.notify_stale
        self.notify_remote = self.general.notify_remote
        return self.general

    # -- adding and removing -------------------------------------------------------------

    def pick_database(self) -> QFileDialog:
        """Open the file picker (without blocking); the chosen file is added."""
        self.tabs.setCurrentIndex(DATABASES_TAB)
        picker = QFileDialog(
            self, "Choose a SQLite database to back up", str(Path.home()), DATABASE_FILTER
        )
        picker.setObjectName("database-picker")
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.fileSelected.connect(lambda path: self.add_database(Path(path)))
        picker.open()
        self.picker = picker
        return picker

    def add_database(self, path: Path) -> None:
        """Check the file (in the background: it opens the database), then stage it."""
        run_in_background(
            lambda: check_database(path),
            what=f"check {path}",
            on_done=self._database_checked,
            on_failed=lambda exc: show_error(self, exc, title="Cannot add this file"),
            owner=self,
        )

    def _database_checked(self, path: Path) -> None:
        self._commit()
        for entry in self.entries:
            if entry.draft.path == path:
                show_error(
                    self,
                    LifeboatError(
                        f"{path} is already backed up as “{entry.draft.title}”",
                        "each database needs to be added only once",
                    ),
                    title="Already added",
                )
                return
        draft = new_source_draft(path, {e.draft.name for e in self.entries} | set(self.removed))
        self.entries.append(Entry(f"new:{next(_new_keys)}", draft))
        self._refresh_list()
        self._select(len(self.entries) - 1)
        self.form.name.setFocus()
        self.form.name.selectAll()

    def remove_current(self) -> None:
        if not 0 <= self.current < len(self.entries):
            return
        entry = self.entries[self.current]
        if entry.draft.is_new:
            self._drop(self.current)
            return
        ask(
            self,
            "Stop backing up?",
            f"Stop backing up {entry.draft.title}?",
            "Its snapshots are kept, and you can still restore them from History. This "
            "happens when you click Save.",
            "Remove",
            lambda: self._drop(self.entries.index(entry), removed=entry.draft.name),
            danger=True,
        )

    def _drop(self, index: int, removed: str | None = None) -> None:
        del self.entries[index]
        if removed:
            self.removed.append(removed)
        self.current = -1
        self._refresh_list()
        self._select(min(index, len(self.entries) - 1))

    # -- selecting and editing -----------------------------------------------------------

    def _refresh_list(self) -> None:
        for widget in (self.source_list, self.retention_source):
            widget.blockSignals(True)
            widget.clear()
            for entry in self.entries:
                widget.addItem(entry_title(entry))
                if isinstance(widget, QListWidget):
                    widget.item(widget.count() - 1).setToolTip(str(entry.draft.path))
            widget.blockSignals(False)
        self.remove_button.setEnabled(bool(self.entries))

    def _select(self, index: int) -> None:
        if index == self.current and index >= 0:
            return
        self._commit()
        self.current = index
        for widget in (self.source_list, self.retention_source):
            widget.blockSignals(True)
            if isinstance(widget, QListWidget):
                widget.setCurrentRow(index)
            else:
                widget.setCurrentIndex(index)
            widget.blockSignals(False)
        has = 0 <= index < len(self.entries)
        self.source_pages.setCurrentIndex(FORM_PAGE if has else EMPTY_PAGE)
        self.retention.setEnabled(has)
        if has:
            entry = self.entries[index]
            self.form.load(entry.draft, entry.problems)
            self.retention.set_keep(
                entry.draft.keep, None if entry.draft.is_new else entry.draft.name
            )
            self.retention.show_error(entry.problems.get("keep") or self.retention.error())

    def _commit(self) -> None:
        """Keep the form's values (and what is wrong with them) in the current entry."""
        if not 0 <= self.current < len(self.entries) or self.form.draft is None:
            return
        entry = self.entries[self.current]
        entry.draft = replace(
            self.form.current(), keep=self.retention.keep(), remote=entry.draft.remote
        )  # the Remote tab sets it
        entry.problems = self.form.problems()
        if (problem := self.retention.error()) is not None:
            entry.problems["keep"] = problem

    def _form_changed(self) -> None:
        if 0 <= self.current < len(self.entries):
            self._commit()
            item = self.source_list.item(self.current)
            if item is not None:
                item.setText(entry_title(self.entries[self.current]))
            self.retention_source.setItemText(self.current, entry_title(self.entries[self.current]))

    def _names_taken(self) -> set[str]:
        """The names a new source being edited must not take: the other databases'."""
        mine = self.entries[self.current].key if 0 <= self.current < len(self.entries) else ""
        return {e.draft.name for e in self.entries if e.key != mine} | set(self.removed)

    def _snapshots_moved(self, name: str, root: Path) -> None:
        """A move saved the folder of `name` already: its draft says so, wherever it is."""
        for entry in self.entries:
            if entry.draft.name == name and not entry.draft.is_new:
                entry.draft = replace(entry.draft, dest=root, saved_dest=root)

    # -- the databases' remotes (for the Remote tab) ------------------------------------

    def source_remotes(self) -> list[tuple[str, str | None]]:
        return [(e.draft.name, e.draft.remote) for e in self.entries]

    def set_source_remote(self, source: str, remote: str | None) -> None:
        self._change_draft(source, lambda draft: replace(draft, remote=remote))

    def source_remote_keeps(self) -> dict[str, str | None]:
        return {e.draft.name: e.draft.remote_keep for e in self.entries}

    def set_source_remote_keep(self, source: str, keep: str | None) -> None:
        self._change_draft(source, lambda draft: replace(draft, remote_keep=keep))

    def _change_draft(self, source: str, change: Callable[[SourceDraft], SourceDraft]) -> None:
        for entry in self.entries:
            if entry.draft.name == source:
                entry.draft = change(entry.draft)

    def _tab_changed(self, index: int) -> None:
        if index == REMOTE_TAB:
            self._commit()
            self.remotes.reload_sources()

    # -- saving --------------------------------------------------------------------------

    def save(self) -> None:
        for entry in self.entries:
            entry.problems = {}
        self._commit()
        try:
            config = self.service.config()
        except LifeboatError as exc:
            show_error(self, exc)
            return
        if self.remotes.check(config):
            self.tabs.setCurrentIndex(REMOTE_TAB)
            return
        remotes, removed_remotes = self.remotes.staged()
        drafts = [e.draft for e in self.entries]
        for problem in check_changes(
            config, drafts, self.removed, remotes={d.name for d in remotes}
        ):
            self.entries[problem.index].problems.setdefault(problem.field, in_our_words(problem))
        if self._show_first_problem():
            return
        self.buttons.setEnabled(False)
        removed = list(self.removed)
        run_in_background(
            lambda: save_all(self.service, remotes, removed_remotes, drafts, removed),
            what="save the settings",
            on_done=lambda _c: self._saved(drafts),
            on_failed=self._save_failed,
            owner=self,
        )

    def _saved(self, drafts: list[SourceDraft]) -> None:
        try:
            preferences = self.general.save(self.service)
        except (LifeboatError, OSError) as exc:
            self.buttons.setEnabled(True)
            show_error(self, exc, title="Databases saved; preferences not saved")
            return
        self.on_saved(preferences, [d.name for d in drafts if d.is_new])
        self.remotes.after_save()
        self.accept()

    def reject(self) -> None:
        """Cancel: a remote typed and not saved is not thrown away without asking."""
        unsaved = self.remotes.typed_unsaved()
        if not unsaved:
            super().reject()
            return
        self.tabs.setCurrentIndex(REMOTE_TAB)
        ask(
            self,
            "Discard changes?",
            f"Discard the changes to remote {', '.join(unsaved)}?",
            "What you typed there is not saved.",
            "Discard",
            lambda: QDialog.reject(self),
            no="Keep editing",
            danger=True,
        )

    def _save_failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        if isinstance(exc, ChangesRejected):
            for problem in exc.problems:
                self.entries[problem.index].problems[problem.field] = in_our_words(problem)
            self._show_first_problem()
            return
        show_error(self, exc, title="Settings not saved")

    def _show_first_problem(self) -> bool:
        for index, entry in enumerate(self.entries):
            if entry.problems:
                problems = dict(entry.problems)
                self.current = -1
                self._select(index)
                entry.problems = problems
                self.form.show_problems(problems)
                self.retention.show_error(problems.get("keep"))
                self.tabs.setCurrentIndex(
                    RETENTION_TAB if set(problems) == {"keep"} else DATABASES_TAB
                )
                return True
        return False
