"""The Settings dialog's Databases tab: the list of databases with Add and Remove, and
the selected one's settings (source_form.py), or a word on how to start when there are
none.

The tab only shows; the dialog (settings_dialog.py) stages the changes and connects the
list, the buttons and the form to what they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.config_model import DEFAULT_SCHEDULE
from lifeboat.core.retention import DEFAULT_KEEP
from lifeboat.gui.continuous_box import protected_continuously_by_default
from lifeboat.gui.first_run_choices import source_names
from lifeboat.gui.source_form import SourceForm
from lifeboat.service import Service
from lifeboat.service.source_changes import FieldProblem, SourceDraft

#: The pages of `DatabasesTab.pages`: a database's form, or the word for none yet.
FORM_PAGE, EMPTY_PAGE = range(2)


class DatabasesTab(QWidget):
    def __init__(self, tz: tzinfo, service: Service) -> None:
        super().__init__()
        self.source_list = QListWidget()
        self.source_list.setObjectName("source-list")
        self.source_list.setMaximumWidth(220)
        self.add_button = QPushButton("Add database…")
        self.add_button.setObjectName("add-database")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("remove-source")
        left = QVBoxLayout()
        left.addWidget(self.source_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        self.form = SourceForm(tz, service)
        self.pages = self._pages()
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addWidget(self.pages, 3)

    def _pages(self) -> QStackedWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        empty = QLabel(
            "No databases yet.\n\nClick “Add database…” and choose the SQLite "
            "file you want Lifeboat to keep safe."
        )
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        pages = QStackedWidget()
        pages.addWidget(scroll)
        pages.addWidget(empty)
        return pages


def new_source_draft(path: Path, taken: set[str]) -> SourceDraft:
    """A database just picked, named as the first run names it: the display name as the
    file is called ('My Notes'), the safe name derived from it and not in `taken`; a WAL
    database protected continuously (continuous_box.protected_continuously_by_default)."""
    [(name, title)] = source_names([path], taken)
    return SourceDraft(
        name=name,
        path=path,
        schedule=DEFAULT_SCHEDULE,
        keep=DEFAULT_KEEP,
        display_name=title if title != name else None,
        continuous=protected_continuously_by_default(path),
        is_new=True,
    )


def in_our_words(problem: FieldProblem) -> str:
    """The dialog's own wording where the shared rule speaks of a command."""
    if problem.field == "encrypt_local":
        return "there is no encryption key yet: untick and tick this again to create one"
    return problem.message


@dataclass
class Entry:
    """A source being edited in Settings: its draft and the problems found in it."""

    key: str
    draft: SourceDraft
    problems: dict[str, str] = field(default_factory=dict)


def entry_title(entry: Entry) -> str:
    """How the database list names it."""
    return entry.draft.title + ("  (new)" if entry.draft.is_new else "")
