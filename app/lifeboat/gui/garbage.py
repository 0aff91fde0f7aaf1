"""Python's cyclic garbage is collected on the GUI thread, between two events: never on a
pool thread, never in the middle of a slot.

Python runs its collector in whichever thread allocates past a threshold. In the tray the
pool threads allocate the most (boto3 builds its models from large JSON files), so a
collection could start there and free what it found: a window closed earlier, a widget
whose Python side was in a reference cycle. Qt then deleted a widget off the GUI thread
while the GUI thread ran. That crashed a test process with a segmentation fault "while
garbage-collecting", its pool thread in botocore's JSON loading; and a collection of a
large heap on a pool thread held the GIL, so the GUI thread, for 0.7 s.

While a `GuiThreadCollection` exists, automatic collection is off and a timer on the GUI
thread collects instead, by the generation thresholds Python itself uses. Reference
counting frees everything outside cycles at once, as before; only cycles wait, at most
one interval. A full collection (generation 2) runs at most once per `third` collections
of generation 1, so at most every ~110 s of busy seconds: Python's own rule that skips
it while few objects were promoted is not exposed to Python code, and a full collection
of the tray's heap takes tens of milliseconds.

The tray never turns automatic collection on again (`stop(restore=False)`): it stops only
as the process ends, and a pool thread still finishing then could otherwise collect the
closed windows off the GUI thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

#: How often the GUI thread looks whether a collection is due.
INTERVAL_MS = 1000


class GuiThreadCollection(QObject):
    """Turns automatic collection off until `stop()` and collects on this (the GUI)
    thread's timer instead. Create it on the GUI thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._stopped = False
        self.collections = 0
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> int | None:
        """Collect the generations whose threshold was passed, as Python would have;
        the number of unreachable objects found, or None when nothing was due."""
        young, middle, old = gc.get_count()
        first, second, third = self._thresholds
        if young <= first:
            return None
        generation = 0
        if middle > second:
            # Pythons whose collector is incremental give 0 for the third threshold
            generation = 2 if old > (third or 10) else 1
        self.collections += 1
        return gc.collect(generation)

    def stop(self, *, restore: bool = True) -> None:
        """Stop collecting; with `restore`, automatic collection as it was before. Once:
        later calls do nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        if restore and self._was_enabled:
            gc.enable()
