"""The first-run flow's pages and a notification, for tools/screenshots.py.

The flow runs on a Lifeboat home of its own with two small databases made for it; the
login item is written under a temporary XDG_CONFIG_HOME, never the user's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def first_run_pages(shots: Any, tmp: Path) -> None:
    from tests.helpers.databases import make_db

    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.paths import resolve_paths
    from lifeboat.gui.autostart import LoginItem
    from lifeboat.gui.first_run import FirstRunWizard
    from lifeboat.gui.workers import wait_for_tasks
    from lifeboat.service import Service

    os.environ["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    data = tmp / "first-run-data"
    data.mkdir()
    notes = make_db(data / "My Notes.db", rows=400)
    recipes = make_db(data / "recipes.sqlite", rows=200, seed=1)
    service = Service(Workspace(resolve_paths({"LIFEBOAT_HOME": str(tmp / "first-home")})))
    flow = FirstRunWizard(service, login_item=LoginItem(platform="linux"))
    flow.resize(640, 480)
    flow.show()
    shots.settle(400)
    shots.save(flow, "first-run-1-nothing-yet")
    flow.databases.add(notes)
    flow.databases.add(recipes)
    shots.wait_until(lambda: len(flow.databases.paths) == 2 and flow.databases.isComplete())
    shots.save(flow, "first-run-2-databases")
    flow.next()
    shots.settle(300)
    shots.save(flow, "first-run-3-folder")
    flow.next()
    shots.settle(200)
    shots.save(flow, "first-run-4-how-often")
    flow.next()
    shots.settle(200)
    shots.save(flow, "first-run-5-offsite")
    flow.next()
    shots.settle(200)
    shots.save(flow, "first-run-6-login")
    flow.next()
    shots.wait_until(lambda: flow.backup.done)
    shots.settle(300)
    shots.save(flow, "first-run-7-done")
    flow.close()
    wait_for_tasks()


def notification(shots: Any, tray_app: Any, name: str) -> None:
    """The screen around the tray icon while a notification shows (Qt's own balloon when
    no notification service runs, as under Xvfb)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    def balloon() -> QRect | None:
        for widget in QApplication.topLevelWidgets():
            if widget.metaObject().className() == "QBalloonTip" and widget.isVisible():
                return widget.geometry()
        return None

    shots.wait_until(lambda: balloon() is not None, timeout=30)
    shots.settle(600)
    found = balloon()
    assert found is not None
    area = found.united(tray_app.tray.geometry()).adjusted(-12, -8, 12, 12)
    area = area.intersected(QRect(0, 0, 1280, 900))
    shot = QGuiApplication.primaryScreen().grabWindow(
        0, area.x(), area.y(), area.width(), area.height()
    )
    shot.save(str(shots.out / f"{name}.png"))
    print(f"  {name}.png")
