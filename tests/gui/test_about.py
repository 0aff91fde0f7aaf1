"""About, Open log, and the clickable settings and log paths."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from lifeboat import __version__
from lifeboat.gui.about import AboutDialog, guide_files, path_links
from lifeboat.gui.app import TrayApp
from tests.gui.conftest import OpenedUrls


def test_about_names_the_version_the_licence_and_the_guide(qtbot, tray_app: TrayApp):
    tray_app.show_about()
    dialog = tray_app._dialogs["about"]
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert f"Lifeboat {__version__}" in texts
    assert "Licence: MIT" in texts
    assert "README" in texts and guide_files()[0][1].name == "README.md"
    tray_app.show_about()  # a second ask brings the same window forward
    assert tray_app._dialogs["about"] is dialog


def test_open_log_opens_the_log_file(qtbot, tray_app: TrayApp, opened_urls: OpenedUrls):
    log = tray_app.paths.log_file
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    assert tray_app.tray is not None
    tray_app.tray.action("open-log").trigger()
    assert opened_urls.paths == [log]


def test_open_log_without_a_log_yet_opens_its_folder(
    qtbot, tray_app: TrayApp, opened_urls: OpenedUrls
):
    log = tray_app.paths.log_file
    if log.exists():
        log.unlink()
    tray_app.open_log()
    assert opened_urls.paths == [log.parent]


def test_the_settings_and_log_paths_are_links(qtbot, tray_app: TrayApp, opened_urls: OpenedUrls):
    paths = tray_app.paths
    label = path_links(paths)
    qtbot.addWidget(label)
    assert str(paths.log_file.parent) in label.text() or str(paths.log_file) in label.text()
    config_link = next(
        part.split('"')[0] for part in label.text().split('href="')[1:] if "config" in part
    )
    label.linkActivated.emit(config_link)
    assert opened_urls.paths == [paths.config_file]


def test_settings_general_shows_the_paths_as_links(qtbot, tray_app: TrayApp):
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    links = dialog.findChild(QLabel, "path-links")
    assert links is not None and "href=" in links.text()
