"""About Lifeboat (version, licence, where the guide is) and the clickable paths of the
settings file and the log, also used by Settings → General (`path_links`)."""

from __future__ import annotations

import html
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lifeboat import __version__
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.gui.icons import app_icon
from lifeboat.gui.messages import show_error

LICENCE = "MIT"
#: Where the guide may be: beside a source checkout, or in a bundle's resources.
_GUIDES = ("README.md", "docs/README.md")


def guide_files() -> list[tuple[str, Path]]:
    """The user guide and the design notes found on this machine, as (title, file)."""
    package = Path(__file__).resolve().parent.parent
    roots = [package.parent.parent, package.parent, Path(getattr(sys, "_MEIPASS", package))]
    for root in roots:
        readme = next((root / g for g in _GUIDES if (root / g).is_file()), None)
        if readme is None:
            continue
        found = [("User guide (README)", readme)]
        for title, name in (
            ("How backups are kept safe", "SAFETY.md"),
            ("File format", "FORMAT.md"),
        ):
            if (root / "docs" / name).is_file():
                found.append((title, root / "docs" / name))
        return found
    return []


def link(target: Path, text: str | None = None) -> str:
    """An HTML link that opens `target` (a file or folder) in the desktop's app for it."""
    url = QUrl.fromLocalFile(str(target)).toString()
    return f'<a href="{html.escape(url)}">{html.escape(text or str(target))}</a>'


def path_links(paths: LifeboatPaths) -> QLabel:
    """'Settings: /…/config.toml · Log: /…/lifeboat.log', each a link that opens it (the
    folder, for a file that does not exist yet)."""
    label = QLabel(
        f"Settings: {link(_openable(paths.config_file))}<br>Log: {link(_openable(paths.log_file))}"
    )
    label.setObjectName("path-links")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextBrowserInteraction | Qt.TextInteractionFlag.TextSelectableByMouse
    )
    label.setOpenExternalLinks(False)
    label.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
    label.setWordWrap(True)
    return label


def _openable(path: Path) -> Path:
    return path if path.exists() else path.parent


def open_path(path: Path) -> bool:
    """Open a file in its app, or its folder when the file is not there (yet)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(_openable(path))))


def open_log(paths: LifeboatPaths) -> None:
    """The log in the desktop's viewer for it; a message when nothing could open it."""
    if not open_path(paths.log_file):
        show_error(
            None,
            LifeboatError(
                f"could not open the log {paths.log_file}", "open it with your file manager"
            ),
        )


class AboutDialog(QDialog):
    def __init__(self, paths: LifeboatPaths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about")
        self.setWindowTitle("About Lifeboat")
        self.setWindowIcon(app_icon())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(f"<h2>Lifeboat {html.escape(__version__)}</h2>")
        title.setObjectName("about-title")
        what = QLabel(
            "Keeps copies of your SQLite databases, checks them, and puts them back in "
            "one step when something goes wrong."
        )
        what.setWordWrap(True)
        guides = guide_files()
        guide_lines = "<br>".join(link(path, title) for title, path in guides)
        details = QLabel(
            f"Licence: {LICENCE}, free to use, change and share."
            + ("<br>" + guide_lines if guide_lines else "")
        )
        details.setObjectName("about-details")
        details.setTextFormat(Qt.TextFormat.RichText)
        details.setOpenExternalLinks(False)
        details.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        head = QHBoxLayout()
        head.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.addWidget(title)
        texts.addWidget(what)
        texts.addWidget(details)
        texts.addWidget(path_links(paths))
        head.addLayout(texts, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        open_log_button = buttons.addButton("Open log", QDialogButtonBox.ButtonRole.ActionRole)
        open_log_button.setObjectName("open-log")
        open_log_button.clicked.connect(lambda: open_log(paths))
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
