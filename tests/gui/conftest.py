"""Fixtures for the tray's tests: a real TrayApp over a real service, scheduler thread,
databases and catalog, on Qt's offscreen platform."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from lifeboat.gui.app import TrayApp
from lifeboat.gui.backup_search import BackupSearchDialog
from lifeboat.gui.garbage import GuiThreadCollection
from lifeboat.gui.messages import open_boxes
from lifeboat.gui.workers import wait_for_tasks
from lifeboat.service import Service
from tests.helpers.databases import make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


@pytest.fixture
def two_sources(service: Service, tmp_path: Path) -> tuple[Path, Path]:
    """notes.db and crm.db, backed up only by hand (no catch-up runs at start)."""
    notes = make_db(tmp_path / "notes.db", rows=300)
    crm = make_db(tmp_path / "crm.db", rows=300, seed=1)
    service.add_source(notes, schedule="manual")
    service.add_source(crm, schedule="manual")
    return notes, crm


@pytest.fixture(autouse=True)
def nothing_outlives_its_test(qtbot) -> Iterator[None]:
    """A background task's answer is delivered through the event loop: one still queued
    when a test ends would run in the next test of this process, with the earlier test's
    service (its home, its remotes). Seen: the offer to look for backups that saving a
    remote starts, opened during the next test, which then took it for its own and read
    the earlier test's remote (a moto server already stopped: "cannot reach 127.0.0.1").
    So each test's tasks finish, their answers run, and the offers they opened are
    closed, before the next test begins.

    Garbage is collected as the tray collects it (gui/garbage.py): on the GUI thread
    only. What a test left in reference cycles is freed at its end, with no pool thread
    running, never by a later test's pool thread."""
    collection = GuiThreadCollection()
    yield
    try:
        wait_for_tasks()
        QApplication.sendPostedEvents()
        QApplication.processEvents()
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, BackupSearchDialog) and widget.isVisible():
                widget.done(0)
        gc.collect()
    finally:
        collection.stop()


@pytest.fixture
def make_tray(qtbot, service: Service) -> Iterator[Callable[..., TrayApp]]:
    """Start a TrayApp (with a tray icon unless use_tray=False); stopped afterwards."""
    started: list[TrayApp] = []

    def start(
        *,
        use_tray: bool = True,
        show_window: bool = False,
        app_service: Service | None = None,
        tick_seconds: float = 15.0,
    ) -> TrayApp:
        tray_app = TrayApp(app_service or service, use_tray=use_tray, tick_seconds=tick_seconds)
        tray_app.start(show_window=show_window)
        started.append(tray_app)
        qtbot.waitUntil(lambda: tray_app.status.status is not None, timeout=10_000)
        return tray_app

    yield start
    for tray_app in started:
        tray_app.shutdown()
    close_message_boxes()
    wait_for_tasks()


@pytest.fixture
def tray_app(make_tray, two_sources) -> TrayApp:
    return make_tray()


class OpenedUrls(QObject):
    """Catches QDesktopServices.openUrl for file: URLs (instead of a file manager)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)

    @property
    def paths(self) -> list[Path]:
        return [Path(url.toLocalFile()) for url in self.urls]


@pytest.fixture
def opened_urls() -> Iterator[OpenedUrls]:
    catcher = OpenedUrls()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher
    QDesktopServices.unsetUrlHandler("file")


def message_boxes() -> list[QMessageBox]:
    """The boxes Lifeboat shows now. Not found among QApplication.topLevelWidgets() and
    their children: wrapping every window earlier tests left behind crashed a full run
    (a segmentation fault inside topLevelWidgets() ended a full run)."""
    return open_boxes()


def wait_for_box(qtbot, text: str = "", timeout: int = 10_000) -> QMessageBox:
    """The visible message box whose text contains `text`."""
    found: list[QMessageBox] = []

    def shown() -> bool:
        found[:] = [b for b in message_boxes() if text in b.text() + "\n" + b.informativeText()]
        return bool(found)

    qtbot.waitUntil(shown, timeout=timeout)
    return found[0]


def click_box_button(box: QMessageBox, text: str) -> None:
    for button in box.buttons():
        if button.text() == text:
            button.click()
            return
    raise AssertionError(f"no button {text!r} in {[b.text() for b in box.buttons()]}")


def close_message_boxes() -> None:
    for box in message_boxes():
        box.done(0)


def gone(widget: object) -> bool:
    """Closed (dialogs delete themselves on close)."""
    import shiboken6

    return not shiboken6.isValid(widget) or not widget.isVisible()  # type: ignore[attr-defined]


def menu_text(tray_app: TrayApp, name: str) -> str | None:
    """The text of a tray menu entry, None while it does not exist (yet)."""
    assert tray_app.tray is not None
    try:
        return tray_app.tray.action(name).text()
    except KeyError:
        return None
