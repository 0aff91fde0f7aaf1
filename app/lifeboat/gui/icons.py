"""The tray's icons: one SVG per state (ok, running, warning, error, paused).

The artwork (gui/icon_art.py) reads on any panel; its badge colours come in a variant for
light panels and one for dark panels, chosen by the panel's colour where it can be known:
on Windows the taskbar's theme (the registry's SystemUsesLightTheme, which differs from
the apps' theme on Windows 10's default), on GNOME the top bar (always dark), elsewhere the
desktop's colour scheme; LIFEBOAT_PANEL=light|dark overrides it. On macOS the menu bar
gets template images (QIcon.setIsMask): black silhouettes the system tints itself.
`TrayIcons.changed` fires when the choice changes.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from lifeboat.gui.icon_art import STATES, file_name

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
MASK_SIZES = (16, 22, 32, 44, 64)

__all__ = [
    "STATES",
    "TrayIcons",
    "app_icon",
    "icon_path",
    "panel_is_dark",
    "state_icon",
    "template_icon",
]


def icon_path(state: str, dark: bool, *, mask: bool = False) -> Path:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    return ICON_DIR / file_name(state, "mask" if mask else "dark" if dark else "light")


@cache
def _icon(path: Path) -> QIcon:
    return QIcon(str(path))


@cache
def template_icon(state: str) -> QIcon:
    """The macOS template image: the mask SVG with its white parts made transparent."""
    renderer = QSvgRenderer(str(icon_path(state, False, mask=True)))
    icon = QIcon()
    for size in MASK_SIZES:
        icon.addPixmap(QPixmap.fromImage(_silhouette(renderer, size)))
    icon.setIsMask(True)
    return icon


def _silhouette(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(QSize(size, size), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    pixels = bytearray(bytes(image.constBits()))  # B, G, R, A per pixel (not premultiplied)
    for i in range(0, len(pixels), 4):
        white = max(pixels[i : i + 3]) / 255  # white is a hole, black stays
        pixels[i : i + 4] = bytes((0, 0, 0, round(pixels[i + 3] * (1.0 - white))))
    return QImage(
        bytes(pixels), size, size, image.bytesPerLine(), QImage.Format.Format_ARGB32
    ).copy()


def uses_template_images() -> bool:
    return sys.platform == "darwin"


def state_icon(state: str, dark: bool | None = None) -> QIcon:
    if uses_template_images():
        return template_icon(state)
    return _icon(icon_path(state, panel_is_dark() if dark is None else dark))


def app_icon() -> QIcon:
    return _icon(ICON_DIR / "lifeboat.svg")


def panel_is_dark() -> bool:
    """Whether the panel holding the tray icon is dark (see the module's note)."""
    chosen = os.environ.get("LIFEBOAT_PANEL", "").lower()
    if chosen in ("light", "dark"):
        return chosen == "dark"
    if sys.platform == "win32":
        taskbar_light = windows_taskbar_is_light()
        if taskbar_light is not None:
            return not taskbar_light
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").upper()
    if "GNOME" in desktop.split(":"):
        return True  # GNOME Shell's top bar is dark in its light style too
    return desktop_is_dark()


def windows_taskbar_is_light() -> bool | None:
    """The Windows taskbar's theme (SystemUsesLightTheme), None where it cannot be read."""
    if sys.platform != "win32":
        return None
    import winreg

    key = r"Software\Microsoft\Windows\CurrentVersion\Themes\Personalize"
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as opened:
            value, _kind = winreg.QueryValueEx(opened, "SystemUsesLightTheme")
    except OSError:
        return None
    return bool(value)


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
    """Icons for the current panel; `changed` when the desktop switches light/dark."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dark = panel_is_dark()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def icon(self, state: str) -> QIcon:
        return state_icon(state, self.dark)

    def _scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        dark = panel_is_dark()
        if dark != self.dark:
            self.dark = dark
            self.changed.emit()
