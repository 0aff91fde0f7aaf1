"""Look for backups on a remote: what a new machine needs before History and Restore can
list the backups another computer made.

A remote added here starts with no snapshots in this machine's catalog. Looking for
backups is the service's catalog rebuild with the remote scan (`Service.rebuild_catalog`:
it only reads the remote, and nothing found is deleted), run in the background with
progress. `BackupSearchDialog` runs it and says what was found; `MissingBackupsNote` is
the line History and the restore wizard show when they have nothing (or nothing from a
remote) to list, saying why, with the button that opens the dialog;
`offer_backup_search` asks after Settings saved a new remote.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.results import KeyInfo, RebuildReport
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import error_lines
from lifeboat.gui.schedule_editor import ERROR_STYLE
from lifeboat.gui.text import plural
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service

#: Dialogs without a parent window must be kept alive while they are open.
_open_dialogs: set[BackupSearchDialog] = set()


class _Searches(QObject):
    """Told when any search has rebuilt the catalog: every open History and restore
    wizard lists what was found, whichever window started the search."""

    finished = Signal()


_searches: _Searches | None = None


def searches() -> _Searches:
    global _searches
    if _searches is None:  # made once a QApplication exists
        _searches = _Searches()
    return _searches


def and_list(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def found_text(report: RebuildReport, remotes: list[str], records: list[SnapshotRecord]) -> str:
    """What a search found, in words (plain text)."""
    counts = [
        (name, report.remote_snapshots[name]) for name in remotes if name in report.remote_snapshots
    ]
    parts = []
    for name, count in counts:
        sources = sorted({r.source for r in records if r.copy_on(name) is not None})
        of = f" of {and_list(sources)}" if sources and count else ""
        parts.append(f"{plural(count, 'snapshot')}{of} on {name}")
    text = ("Found " + "; ".join(parts) + ".") if parts else ""
    if counts and all(count == 0 for _, count in counts):
        text = f"No backups were found on {', '.join(n for n, _ in counts)}."
    elif counts:
        text += " History and Restore list them now."
    unreachable = [e for e in report.remote_errors if e.split(":", 1)[0] in remotes]
    if unreachable:
        text += " Could not read " + "; ".join(unreachable) + "."
    return text.strip()


def needs_key(records: list[SnapshotRecord], keys: KeyInfo) -> bool:
    """Are there encrypted backups only a key this machine lacks can open?"""
    sealed = [r for r in records if not r.local and r.manifest.remote_encryption is not None]
    return bool(sealed) and not keys.local


class BackupSearchDialog(QDialog):
    """Asks to look for backups on `remotes` (or starts at once), shows the progress,
    then what was found. `searched` is emitted once the catalog was rebuilt."""

    searched = Signal()

    def __init__(
        self,
        service: Service,
        remotes: list[str],
        *,
        question: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("backup-search")
        self.setWindowTitle("Look for backups")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.service = service
        self.remotes = remotes
        self.running = False
        self.report: RebuildReport | None = None
        names = ", ".join(remotes)
        self.intro = intro = QLabel(
            (question + "\n\n" if question else "")
            + f"Lifeboat reads the list of snapshots kept on {names}, so that History and "
            "Restore show them, including those made on another computer. Nothing is "
            "downloaded, changed or deleted."
        )
        intro.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setObjectName("backup-search-progress")
        self.bar.setTextVisible(False)
        self.status = QLabel(" ")
        self.status.setObjectName("backup-search-result")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() * 3)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.buttons = QDialogButtonBox()
        self.look = self.buttons.addButton(
            "&Look for backups", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.look.setObjectName("look-for-backups")
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setText("Not now" if question else "Close")
        self.look.clicked.connect(self.start)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.resize(520, 260)
        _open_dialogs.add(self)
        self.destroyed.connect(lambda _=None: _open_dialogs.discard(self))

    def start(self) -> None:
        """Rebuild the catalog with the remote scan, off the GUI thread."""
        if self.running:
            return
        self.running = True
        self.look.setEnabled(False)
        self.close_button.setEnabled(False)
        self.bar.setRange(0, 0)
        self.status.setStyleSheet("")
        self.status.setText(f"Looking for backups on {', '.join(self.remotes)}…")
        service = self.service

        def search(
            progress: Progress, _cancel: CancelToken
        ) -> tuple[RebuildReport, list[SnapshotRecord], KeyInfo]:
            report = service.rebuild_catalog(progress=progress)
            return report, service.snapshots(), service.key_info()

        run_in_background(
            search,
            what="look for backups on the remotes",
            with_progress=True,
            on_progress=self._progress,
            on_done=self._done,
            on_failed=self._failed,
            owner=self,
        )

    def _progress(self, phase: str, done: int, total: int) -> None:
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        where = "the snapshot folders here" if phase == "rebuild-folders" else "the remotes"
        self.status.setText(f"Looking for backups: reading {where}…")

    def _done(self, result: tuple[RebuildReport, list[SnapshotRecord], KeyInfo]) -> None:
        report, records, keys = result
        self.report = report
        self._ended()
        text = found_text(report, self.remotes, records)
        if needs_key(records, keys):
            text += (
                " They are encrypted: import your recovery key (Settings → Remote → "
                "Import a key…) before restoring them."
            )
        self.status.setText(text)
        self.searched.emit()
        searches().finished.emit()

    def _failed(self, exc: BaseException) -> None:
        self._ended()
        message, hint = error_lines(exc)
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(f"{message} {hint}".strip())

    def _ended(self) -> None:
        self.running = False
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.look.setEnabled(True)
        self.look.setText("&Look again")
        self.close_button.setEnabled(True)
        self.close_button.setText("Close")

    def reject(self) -> None:
        if not self.running:  # the search finishes quickly, and reads only
            super().reject()


def open_backup_search(
    service: Service,
    remotes: list[str],
    *,
    parent: QWidget | None = None,
    start: bool = True,
    question: str | None = None,
) -> BackupSearchDialog:
    dialog = BackupSearchDialog(service, remotes, question=question, parent=parent)
    dialog.show()
    if start:
        dialog.start()
    return dialog


def offer_backup_search(
    service: Service,
    added: list[str],
    on_dialog: Callable[[BackupSearchDialog], None] | None = None,
) -> None:
    """After remotes were added: for those of which this machine knows no snapshot, ask
    whether to look for backups on them (a new machine restoring another's backups)."""
    if not added:
        return

    def offer(unknown: list[str]) -> None:
        names = [n for n in added if n in unknown]
        if not names:
            return
        dialog = open_backup_search(
            service,
            names,
            start=False,
            question=f"Look for backups on {', '.join(names)}? If another computer backed "
            "up there, you can then restore its databases here.",
        )
        if on_dialog is not None:
            on_dialog(dialog)

    run_in_background(
        service.remotes_with_unknown_backups,
        what="find the remotes of which no snapshot is known",
        on_done=offer,
    )


class MissingBackupsNote(QWidget):
    """Why History or the restore wizard lists nothing (or nothing from a remote), and
    the button that looks for backups on the remotes. Hidden when there is nothing to say.
    `searched`: a search (started here or anywhere) has rebuilt the catalog."""

    searched = Signal()

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("missing-backups")
        self.service = service
        self.remotes: list[str] = []
        self.dialog: BackupSearchDialog | None = None
        self.text = QLabel()
        self.text.setObjectName("missing-backups-text")
        self.text.setWordWrap(True)
        self.button = QPushButton("Look for &backups…")
        self.button.setObjectName("look-for-backups-note")
        self.button.clicked.connect(self.look)
        searches().finished.connect(self._searched)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def explain(self, *, any_snapshots: bool, remotes: list[str], unknown: list[str]) -> None:
        """`remotes`: those configured; `unknown`: those of which no snapshot is known."""
        self.remotes = unknown
        self.button.setVisible(bool(unknown))
        if unknown:
            names = ", ".join(unknown)
            lead = "No snapshots are listed yet. " if not any_snapshots else ""
            self.text.setText(
                f"{lead}Nothing is listed from {names}. Backups another computer made "
                "there appear here once Lifeboat has looked for them."
            )
        elif not any_snapshots:
            self.text.setText(
                "No snapshots yet: they appear here after the first backup. "
                + (
                    ""
                    if remotes
                    else "To restore backups made on another computer, add its remote "
                    "in Settings → Remote and import your recovery key there."
                )
            )
        self.setVisible(bool(unknown) or not any_snapshots)

    def _searched(self) -> None:
        if shiboken6.isValid(self):
            self.searched.emit()

    def look(self) -> BackupSearchDialog | None:
        if not self.remotes:
            return None
        self.dialog = open_backup_search(self.service, self.remotes, parent=self.window())
        return self.dialog
