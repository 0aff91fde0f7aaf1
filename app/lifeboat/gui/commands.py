"""What the tray menu and the main window can ask the app to do (TrayApp does it)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lifeboat.gui.browse_points import PointWanted


class AppCommands(Protocol):
    def backup_now(self, source: str | None = None) -> None:
        """Back up one source now, or every source (None)."""

    def can_back_up(self, source: str) -> bool:
        """False while a backup of `source` is queued or running ("Back up now" greyed)."""

    def cancel_backup(self, source: str) -> None:
        """Stop the manual backup of `source` under way (its progress window's Cancel)."""

    def show_about(self) -> None: ...

    def add_database(self) -> None:
        """The first-run flow while there is no database; else Settings' file picker."""

    def open_log(self) -> None:
        """Open the log file (or, failing that, its folder)."""

    def show_history(self, source: str | None = None) -> None: ...

    def show_restore(self, source: str | None = None) -> None: ...

    def show_browse(self, wanted: PointWanted) -> None:
        """Look inside a backup point (the Browse window)."""

    def show_settings(self, add_database: bool = False) -> None: ...

    def show_main_window(self) -> None: ...

    def set_paused(self, paused: bool, until: datetime | None = None) -> None:
        """Pause the schedules until `until` (None: until resumed), or resume them."""

    def open_backup_folder(self, source: str | None = None) -> None: ...

    def quit(self) -> None: ...
