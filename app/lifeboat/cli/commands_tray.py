"""`lifeboat tray` (and `lifeboat` without a command): the desktop app.

Qt is imported only here, when the tray starts, so the other commands stay light.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    tray = commands.add_parser(
        "tray",
        help="start the tray app (the default without a "
        "command); a second start brings its window forward",
    )
    tray.add_argument(
        "--minimized",
        action="store_true",
        help="start in the tray without opening the window (used at login)",
    )


def start_tray(args: argparse.Namespace) -> int:
    from lifeboat.gui.module_sources import keep_no_module_sources

    keep_no_module_sources()  # before the GUI's modules: PySide6 would keep their lines
    from lifeboat.gui.launch import main as tray_main

    return tray_main(minimized=getattr(args, "minimized", False))
