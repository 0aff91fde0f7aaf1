"""The tray gives freed memory back to the system once its start-up work settled and
when a window closes (gui/memory.py), not only after jobs: with 10,000 snapshots the
start-up's catalog reads, or a History window, left megabytes of freed heap counted as
the idle tray's."""

from __future__ import annotations

from lifeboat.gui.app import TrayApp


def test_memory_is_given_back_after_the_start_up_and_when_a_window_closes(
    qtbot, tray_app: TrayApp
) -> None:
    trim = tray_app._trim
    qtbot.waitUntil(lambda: trim.settled_trims >= 1, timeout=20_000)  # the start-up's
    before = trim.settled_trims

    tray_app.show_history()
    dialog = tray_app._dialogs["history"]
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)
    assert trim.settled_trims == before  # opening one gives nothing back
    dialog.close()  # deleted on close: its tables' memory is freed
    qtbot.waitUntil(lambda: trim.settled_trims == before + 1, timeout=20_000)
    assert not _open(tray_app, "history")


def _open(tray_app: TrayApp, key: str) -> bool:
    try:
        tray_app._dialogs[key]
    except KeyError:
        return False
    return True
