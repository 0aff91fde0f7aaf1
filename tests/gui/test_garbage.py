"""Cyclic garbage is freed on the GUI thread only (gui/garbage.py): a widget kept only by a
reference cycle is deleted by the GUI thread's timer, never by a pool thread that
allocates past Python's threshold, as boto3's model loading does."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from lifeboat.gui.garbage import GuiThreadCollection


def allocate_on_a_pool_thread(containers: int) -> list[list[object]]:
    """What a pool thread allocates and keeps, as botocore keeps the models it loads."""
    kept: list[list[object]] = []

    def allocate() -> None:
        kept.extend([] for _ in range(containers))

    thread = threading.Thread(target=allocate)
    thread.start()
    thread.join()
    return kept


def widget_in_a_cycle(deleted_on: list[int]) -> None:
    widget = QWidget()
    widget.itself = widget  # type: ignore[attr-defined]  # only a collection frees it
    widget.destroyed.connect(
        lambda *_: deleted_on.append(threading.get_ident()), Qt.ConnectionType.DirectConnection
    )


def test_a_widget_in_a_cycle_is_deleted_on_the_gui_thread_never_on_a_pool_thread(qtbot):
    collection = GuiThreadCollection(interval_ms=20)
    try:
        deleted_on: list[int] = []
        widget_in_a_cycle(deleted_on)
        # many collections' worth: Python would collect generations 0 and 1 there
        kept = allocate_on_a_pool_thread(gc.get_threshold()[0] * 100)
        assert deleted_on == [], "a pool thread's allocations collected the widget"
        qtbot.waitUntil(lambda: bool(deleted_on), timeout=5_000)
        assert deleted_on == [threading.get_ident()]
        del kept
    finally:
        collection.stop()


def test_collects_only_past_a_threshold_and_stop_gives_automatic_collection_back(qtbot):
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        outer = GuiThreadCollection(interval_ms=60_000)
        inner = GuiThreadCollection(interval_ms=60_000)
        assert not gc.isenabled()
        gc.collect()
        assert inner.collect_due() is None, "nothing allocated: nothing due"
        kept = [[] for _ in range(gc.get_threshold()[0] * 2)]
        found = inner.collect_due()
        assert found is not None and gc.get_count()[0] < gc.get_threshold()[0]
        del kept
        inner.stop()
        assert not gc.isenabled(), "the outer collection still runs"
        outer.stop()
        outer.stop()
        assert gc.isenabled()
    finally:
        if not was_enabled:
            gc.disable()


def test_the_tray_turns_automatic_collection_off_for_good(make_tray):
    gc.enable()  # as in a process of its own (this test's fixture turned it off)
    try:
        tray_app = make_tray(use_tray=False)
        assert not gc.isenabled()
        assert tray_app.findChild(GuiThreadCollection) is not None
        tray_app.shutdown()
        # a pool thread still finishing must not collect the closed windows
        assert not gc.isenabled(), "the process ends: never on again"
    finally:
        gc.disable()  # the fixture's state, which it restores itself
