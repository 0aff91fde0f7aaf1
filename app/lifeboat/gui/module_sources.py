"""Keeping no module's source in memory for PySide6's sake.

PySide6 (6.4 and later, for its `__feature__` switches) asks of every module loaded
before it and of every module imported after it whether its source says "PySide6". It
reads that source with `inspect.getsource`, and `linecache` then keeps every line of
every such file for the life of the process: in the idle tray, 291 files, 3.9 MB of
text in 9 MB of Python objects, about 10 MB of its RSS (issue 7's goal is 90 MB in
all). The same question answered from the file's bytes keeps nothing.

A packaged build has no source files, so nothing was kept there; this is for the tray
run from an installed package (the README's way).
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from types import ModuleType

#: Marks the replacement, so a second call changes nothing.
_OURS = "_lifeboat_reads_bytes"


def keep_no_module_sources() -> None:
    """Load PySide6 and make its question read a module's file, not keep its lines;
    forget the lines it kept of the modules loaded before it. Before the GUI's modules
    are imported (cli/commands_tray.py), so that none of theirs are kept either."""
    import PySide6.QtCore  # noqa: F401  (its start asks of every module loaded so far)

    feature = sys.modules.get("shibokensupport.feature")
    asks = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or not callable(asks) or getattr(asks, _OURS, False):
        return  # a PySide6 without the question, or done already: nothing to change
    vars(feature)["_mod_uses_pyside"] = _reading_bytes(asks)  # what its hook calls
    for name in [name for name in linecache.cache if name.endswith(".py")]:
        linecache.cache.pop(name, None)  # read again, if ever, for a traceback


def _reading_bytes(asks: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return asks(module)  # built in, compiled or archived: its own way
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return asks(module)

    setattr(uses_pyside, _OURS, True)
    return uses_pyside
