"""The windows the tray app opens over its service: History, the restore wizard and
Browse (one of each kind at a time: OpenDialogs brings an open one forward). A part of
TrayApp (gui/app.py); the dialogs are imported when first opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.gui.bridge import EventBridge
from lifeboat.gui.open_dialogs import OpenDialogs, bring_forward
from lifeboat.service import Service

if TYPE_CHECKING:
    from lifeboat.gui.browse_points import PointWanted
    from lifeboat.gui.restore_wizard import RestoreWizard


class WindowCommands:
    service: Service
    bridge: EventBridge
    _dialogs: OpenDialogs
    open_folder: Callable[[Path], None]

    def show_history(self, source: str | None = None) -> None:
        from lifeboat.gui.history_dialog import HistoryDialog

        dialog = self._dialogs.get(
            "history",
            lambda: HistoryDialog(
                self.service,
                self.bridge,
                restore=self.show_restore_snapshot,
                browse=self.show_browse,
            ),
        )
        assert isinstance(dialog, HistoryDialog)
        dialog.show_source(source)
        bring_forward(dialog)

    def show_restore(self, source: str | None = None) -> None:
        wizard = self._restore_wizard()
        if source is not None and not wizard.busy:
            wizard.start_with(source=source)
        bring_forward(wizard)

    def show_restore_snapshot(self, snapshot_id: str) -> None:
        """From History: the wizard at its confirm page, ready for one click."""
        wizard = self._restore_wizard()
        if not wizard.busy:
            wizard.start_with(snapshot_id=snapshot_id)
        bring_forward(wizard)

    def _restore_wizard(self) -> RestoreWizard:
        from lifeboat.gui.restore_wizard import RestoreWizard

        wizard = self._dialogs.get(
            "restore",
            lambda: RestoreWizard(
                self.service, open_folder=self.open_folder, browse=self.show_browse
            ),
        )
        assert isinstance(wizard, RestoreWizard)
        return wizard

    def show_browse(self, wanted: PointWanted) -> None:
        """Look inside a backup point: the Browse window of its database (one each)."""
        from lifeboat.gui.browse_window import BrowseWindow

        window = self._dialogs.get(f"browse:{wanted.source}", lambda: BrowseWindow(self.service))
        assert isinstance(window, BrowseWindow)
        window.show_point(wanted)
        bring_forward(window)
