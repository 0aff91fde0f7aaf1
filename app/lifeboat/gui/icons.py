"""The tray's icons: one SVG per state, in a light and a dark variant.

The variant follows the desktop's colour scheme (dark glyphs on light panels, light
glyphs on dark ones); `TrayIcons.changed` fires when the scheme changes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QPalette

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
STATES = ("ok", "running", "warning", "error")


def icon_path(state: str, dark: bool) -> Path:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    return ICON_DIR / f"tray-{state}-{'dark' if dark else 'light'}.svg"


@cache
def _icon(path: Path) -> QIcon:
    return QIcon(str(path))


def state_icon(state: str, dark: bool | None = None) -> QIcon:
    return _icon(icon_path(state, desktop_is_dark() if dark is None else dark))


def app_icon() -> QIcon:
    return _icon(ICON_DIR / "lifeboat.svg")


def desktop_is_dark() -> bool:
    """Whether the desktop uses a dark colour scheme (from Qt's style hints, else from the
    window colour of the palette)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


class TrayIcons(QObject):
    """Icons for the current scheme; `changed` when the desktop switches light/dark."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dark = desktop_is_dark()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def icon(self, state: str) -> QIcon:
        return state_icon(state, self.dark)

    def _scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        dark = desktop_is_dark()
        if dark != self.dark:
            self.dark = dark
            self.changed.emit()
