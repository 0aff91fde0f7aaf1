"""The tray's dialogs that are open, one per kind: asking for one again brings the open
one forward instead of stacking a second."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from PySide6.QtWidgets import QWidget


class OpenDialogs:
    def __init__(self, on_closed: Callable[[], object] = lambda: None) -> None:
        self._open: dict[str, QWidget] = {}
        self._on_closed = on_closed  # once a dialog is gone (the tray gives memory back)

    def get(self, key: str, create: Callable[[], QWidget]) -> QWidget:
        """The open dialog of this kind, or a new one made by `create`."""
        dialog = self._open.get(key)
        if dialog is not None and not dialog.isVisible():
            # Closed: Qt deletes it when the event loop next runs. Showing it again would
            # let it vanish under the user; a new one takes its place.
            del self._open[key]
            dialog = None
        if dialog is None:
            dialog = create()
            self._open[key] = dialog
            dialog.destroyed.connect(partial(self._forget, key, dialog))
        return dialog

    def __getitem__(self, key: str) -> QWidget:
        return self._open[key]

    def __iter__(self) -> Iterator[QWidget]:
        return iter(list(self._open.values()))

    def _forget(self, key: str, dialog: QWidget, *_: object) -> None:
        if self._open.get(key) is dialog:
            del self._open[key]
        self._on_closed()


def bring_forward(widget: QWidget) -> None:
    widget.show()
    widget.raise_()
    widget.activateWindow()
