"""The Settings dialog's Remote tab: add, change and remove S3-compatible remotes, test
a connection, switch encryption on (after the recovery key is saved) or off.

Like the Databases tab it stages drafts; the dialog saves everything with Save (see
remote_changes.save_all). Test connection runs `Service.test_remote` on the form's
values in the thread pool, with a busy bar, so the window never freezes on the network.
Which databases upload to a remote is a setting of each database; the page edits it
through the `SourceRemotes` the dialog gives it.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.config_model import Config
from lifeboat.core.results import RemoteTest
from lifeboat.gui.backup_search import BackupSearchDialog, offer_backup_search, open_backup_search
from lifeboat.gui.key_buttons import RecoveryKeyButtons
from lifeboat.gui.messages import ask, error_lines
from lifeboat.gui.recovery_key import RecoveryKeyDialog
from lifeboat.gui.remote_encryption import EncryptionSwitch, RemoteEntry
from lifeboat.gui.remote_form import RemoteForm
from lifeboat.gui.remote_retention import RemoteRetentionBox
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.remote_changes import RemoteDraft, remote_problems

OK_STYLE = "color: #188038;"
_new_keys = itertools.count(1)


class SourceRemotes(Protocol):
    """The databases being edited, and the remote each uploads to."""

    def source_remotes(self) -> list[tuple[str, str | None]]: ...

    def set_source_remote(self, source: str, remote: str | None) -> None: ...

    def source_remote_keeps(self) -> dict[str, str | None]: ...

    def set_source_remote_keep(self, source: str, keep: str | None) -> None: ...


class RemotePage(EncryptionSwitch, QWidget):
    changed = Signal()

    def __init__(
        self,
        service: Service,
        config: Config,
        sources: SourceRemotes,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.sources = sources
        self.saved = dict(config.remotes)
        self.entries = [RemoteEntry(n, RemoteDraft.of(r)) for n, r in config.remotes.items()]
        self.removed: list[str] = []
        self.current = -1
        self.recovery: RecoveryKeyDialog | None = None
        self.search: BackupSearchDialog | None = None
        self._testing: str | None = None  # the key of the entry being tested
        self._build()
        self._refresh_list()
        self.select(0 if self.entries else -1)

    def _build(self) -> None:
        self.remote_list = QListWidget()
        self.remote_list.setObjectName("remote-list")
        self.remote_list.setMaximumWidth(220)
        self.remote_list.currentRowChanged.connect(self.select)
        add = QPushButton("Add remote")
        add.setObjectName("add-remote")
        add.clicked.connect(self.add_remote)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("remove-remote")
        self.remove_button.clicked.connect(self.remove_current)
        left = QVBoxLayout()
        left.addWidget(self.remote_list, 1)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        self.key_buttons = RecoveryKeyButtons(self.service)
        left.addSpacing(8)
        left.addWidget(self.key_buttons)

        editor = self._build_editor()
        empty = QLabel(
            "No remotes yet.\n\nA copy on the same disk does not survive the "
            "disk. Click “Add remote” to copy snapshots to S3-compatible storage "
            "(Amazon S3, Tencent COS, MinIO, Cloudflare R2, Backblaze B2, …)."
        )
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(editor)
        self.pages.addWidget(empty)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addWidget(self.pages, 3)

    def _build_editor(self) -> QWidget:
        """The form (scrolling), and under it Test connection and Look for backups."""
        self.form = RemoteForm(secrets_place=self.service.secrets.place())
        self.form.changed.connect(self._form_changed)
        self.form.encrypt_clicked.connect(self.request_encryption)
        self.keep_box = RemoteRetentionBox(self.service)
        self.keep_box.changed.connect(self._form_changed)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.form)
        column.addWidget(self.keep_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("test-remote")
        self.test_button.clicked.connect(self.test_connection)
        self.look_button = QPushButton("&Look for backups")
        self.look_button.setObjectName("look-for-backups-remote")
        self.look_button.clicked.connect(self.look_for_backups)
        self.busy = QProgressBar()
        self.busy.setObjectName("test-busy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.result = QLabel()
        self.result.setObjectName("test-result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.look_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.busy, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.result, 1)
        editor = QWidget()
        right = QVBoxLayout(editor)
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(scroll, 1)
        right.addLayout(test_row)
        return editor

    # -- adding, removing, selecting ---------------------------------------------------

    def add_remote(self) -> None:
        self.commit()
        taken = {e.draft.name for e in self.entries} | set(self.removed)
        names = itertools.chain(["offsite"], (f"offsite-{i}" for i in itertools.count(2)))
        name = next(n for n in names if n not in taken)
        self.entries.append(
            RemoteEntry(f"new:{next(_new_keys)}", RemoteDraft(name=name, is_new=True))
        )
        for source, remote in self.sources.source_remotes():
            if remote is None:  # offered: ticked, the user unticks what should stay here
                self.sources.set_source_remote(source, name)
        self._refresh_list()
        self.select(len(self.entries) - 1)
        self.form.name.setFocus()
        self.form.name.selectAll()

    def remove_current(self) -> None:
        if not 0 <= self.current < len(self.entries):
            return
        self.commit()
        entry = self.entries[self.current]
        users = [s for s, r in self.sources.source_remotes() if r == entry.draft.name]
        if entry.draft.is_new and not users:
            self._drop(entry)
            return
        detail = (
            "Its objects stay in the bucket. "
            + (f"{', '.join(users)} will no longer be uploaded. " if users else "")
            + "This happens when you click Save."
        )
        ask(
            self,
            "Remove remote?",
            f"Stop using remote {entry.draft.name}?",
            detail,
            "Remove",
            lambda: self._drop(entry),
            danger=True,
        )

    def _drop(self, entry: RemoteEntry) -> None:
        for source, remote in self.sources.source_remotes():
            if remote == entry.draft.name:
                self.sources.set_source_remote(source, None)
        index = self.entries.index(entry)
        del self.entries[index]
        if not entry.draft.is_new:
            self.removed.append(entry.draft.name)
        self.current = -1
        self._refresh_list()
        self.select(min(index, len(self.entries) - 1))
        self.changed.emit()

    def select(self, index: int) -> None:
        if index == self.current and index >= 0:
            return
        self.commit()
        self.current = index
        self.remote_list.blockSignals(True)
        self.remote_list.setCurrentRow(index)
        self.remote_list.blockSignals(False)
        has = 0 <= index < len(self.entries)
        self.pages.setCurrentIndex(0 if has else 1)
        self.result.clear()
        if has:
            entry = self.entries[index]
            self.form.load(entry.draft, entry.problems, self.sources.source_remotes())
            self._load_keep()
        self._update_test_button()

    def reload_sources(self) -> None:
        """The databases may have changed on the other tab: show them again."""
        if 0 <= self.current < len(self.entries):
            self.commit()
            entry = self.entries[self.current]
            self.form.load(entry.draft, entry.problems, self.sources.source_remotes())
            self._load_keep()

    def _load_keep(self) -> None:
        keeps = self.sources.source_remote_keeps()
        self.keep_box.load([keeps[s] for s in self.form.uploaded_sources() if s in keeps])

    def commit(self) -> None:
        """Keep the form's values in the current entry, and which databases upload to it."""
        if not 0 <= self.current < len(self.entries) or self.form.draft is None:
            return
        entry = self.entries[self.current]
        old_name = entry.draft.name
        entry.draft = self.form.current()
        chosen = set(self.form.uploaded_sources())
        for source, remote in self.sources.source_remotes():
            if source in chosen and remote != entry.draft.name:
                self.sources.set_source_remote(source, entry.draft.name)
            elif source not in chosen and remote in (old_name, entry.draft.name):
                self.sources.set_source_remote(source, None)
        if self.keep_box.isEnabled() and self.keep_box.error() is None:
            for source in chosen:
                self.sources.set_source_remote_keep(source, self.keep_box.value())

    def _form_changed(self) -> None:
        if 0 <= self.current < len(self.entries):
            self.commit()
            item = self.remote_list.item(self.current)
            if item is not None:
                item.setText(_title(self.entries[self.current]))
        self._update_test_button()
        self.changed.emit()

    def _refresh_list(self) -> None:
        self.remote_list.blockSignals(True)
        self.remote_list.clear()
        for entry in self.entries:
            self.remote_list.addItem(_title(entry))
        self.remote_list.blockSignals(False)
        self.remove_button.setEnabled(bool(self.entries))

    # -- checking (before Save) --------------------------------------------------------

    def check(self, config: Config) -> bool:
        """Find every problem; show the first one. True if there is one."""
        self.commit()
        names = [e.draft.name for e in self.entries]
        for index, entry in enumerate(self.entries):
            others = names[:index] + names[index + 1 :]
            entry.problems = remote_problems(entry.draft, config, others)
        for index, entry in enumerate(self.entries):
            if entry.problems:
                self.current = -1
                self.select(index)
                return True
        if self.keep_box.error() is not None:
            return True  # shown under the rules, on the remote being edited
        if 0 <= self.current < len(self.entries):
            self.form.show_problems({})
        return False

    def staged(self) -> tuple[list[RemoteDraft], list[str]]:
        self.commit()
        return [e.draft for e in self.entries], list(self.removed)

    # -- testing the connection --------------------------------------------------------

    def test_connection(self) -> None:
        if not 0 <= self.current < len(self.entries) or self._testing is not None:
            return
        self.commit()
        entry = self.entries[self.current]
        draft = entry.draft
        key_id, secret = draft.credentials_given()
        self._testing = entry.key
        self.busy.show()
        self.result.setStyleSheet("")
        self.result.setText(
            f"Testing {draft.name}: writing, reading back and deleting a small object…"
        )
        self._update_test_button()
        run_in_background(
            lambda: self.service.test_remote(
                draft.name, access_key_id=key_id, secret=secret, **draft.settings()
            ),
            what=f"test remote {draft.name}",
            owner=self,
            on_done=lambda result: self._tested(entry.key, result, None),
            on_failed=lambda exc: self._tested(entry.key, None, exc),
        )

    def _tested(self, key: str, result: RemoteTest | None, exc: BaseException | None) -> None:
        self._testing = None
        self.busy.hide()
        self._update_test_button()
        if not (0 <= self.current < len(self.entries)) or self.entries[self.current].key != key:
            return  # the user moved on to another remote
        if result is not None:
            self.result.setStyleSheet(OK_STYLE)
            self.result.setText(
                f"✓ Connected: {result.endpoint}, bucket {result.bucket}. "
                "A test object was written, read back and deleted "
                f"({result.seconds:.1f} s)."
            )
            return
        assert exc is not None
        message, hint = error_lines(exc)
        self.result.setStyleSheet(ERROR_STYLE)
        self.result.setText(f"✗ {message} {hint}".strip())

    def _update_test_button(self) -> None:
        has = 0 <= self.current < len(self.entries)
        self.test_button.setEnabled(self._testing is None and has)
        self.test_button.setText("Testing…" if self._testing else "Test connection")
        saved = has and not self.entries[self.current].draft.is_new
        self.look_button.setEnabled(saved)
        self.look_button.setToolTip(
            "List the snapshots kept on this remote, including those another computer made"
            if saved
            else "Save the new remote first: then Lifeboat can look for backups on it"
        )

    # -- looking for backups (a new machine) -------------------------------------------

    def look_for_backups(self) -> None:
        if 0 <= self.current < len(self.entries) and not self.entries[self.current].draft.is_new:
            name = self.entries[self.current].draft.name
            self.search = open_backup_search(self.service, [name], parent=self.window())

    def after_save(self) -> None:
        """Settings were saved: offer to look for backups on the remotes just added (of
        which this machine knows no snapshot). The offer outlives the Settings window."""
        added = [e.draft.name for e in self.entries if e.draft.is_new]
        offer_backup_search(self.service, added)

    def typed_unsaved(self) -> list[str]:
        """The remotes added or changed here and not saved yet (Cancel asks first)."""
        self.commit()
        return [
            e.draft.name
            for e in self.entries
            if e.draft.is_new
            or e.draft.secret
            or e.draft.access_key_id
            or e.draft.without_credentials() != RemoteDraft.of(self.saved[e.draft.name])
        ] + list(self.removed)


def _title(entry: RemoteEntry) -> str:
    return entry.draft.name + ("  (new)" if entry.draft.is_new else "")
