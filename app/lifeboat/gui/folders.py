"""Opening a folder in the desktop's file manager, and the backup folder of a database."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.messages import show_error
from lifeboat.service import Service


def open_backup_folder(service: Service, source: str | None) -> None:
    """The snapshot folder of `source` (of the only database when None and there is one)."""
    try:
        sources = service.sources()
        if source is None and len(sources) == 1:
            source = sources[0].name
        folder = service.snapshot_folder(source)
    except (LifeboatError, OSError) as exc:
        show_error(None, exc)
        return
    open_folder(folder)


def open_folder(folder: Path) -> None:
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        show_error(
            None,
            LifeboatError(f"could not open the folder {folder}", "open it with your file manager"),
        )
