"""A Qt binding that corrupts Python's memory is refused at start, saying what to install.

PySide6 6.12.0 on Python 3.11 hands back None (from every Qt method that returns
nothing: setText, setEnabled, QTimer.singleShot...) and True (from Signal.emit) without
a reference of their own, so each call takes one of the interpreter's. Python 3.12 and
later never free None or True (immortal objects); 3.11 does. The tray then dies with
"Fatal Python error: none_dealloc" (or bool_dealloc) once as many calls were made as
None had references: with 100 sources within a minute of starting, with a few after
hours. So the binding is measured, not looked up by version number: a fixed release
passes whatever its number, a broken one is caught whatever its number.
"""

from __future__ import annotations

import sys

#: calls measured; a broken binding takes exactly one reference per call
_CALLS = 64


def stolen_references() -> str | None:
    """ "None" when a Qt method that returns nothing takes a reference to None, else
    None. (Signal.emit taking one from True is the same fault; measuring it too would
    take references from True, which has far fewer to spare.)"""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_CALLS):
        probe.setObjectName("probe")  # a method that returns nothing
    # other threads may move the count a little; a broken binding moves it by _CALLS
    return "None" if before - sys.getrefcount(None) > _CALLS // 2 else None


def binding_problem() -> tuple[str, str] | None:
    """(message, hint) when the installed PySide6 corrupts memory here, else None."""
    stolen = stolen_references()
    if stolen is None:
        return None
    import PySide6

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"PySide6 {PySide6.__version__} on Python {python} corrupts Python's memory "
        f"(each Qt call takes a reference to {stolen}): the tray would crash",
        "install an earlier PySide6: pip install 'pyside6-essentials<6.12'",
    )
