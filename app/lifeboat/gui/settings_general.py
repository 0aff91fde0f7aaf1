"""The Settings dialog's General tab: the tray's own preferences (start at login, which
notifications to show) and where the settings and the log are kept."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.gui.about import path_links
from lifeboat.gui.autostart import LoginItem
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.service import Service


class GeneralTab(QWidget):
    def __init__(
        self, preferences: TrayPreferences, login_item: LoginItem, paths: LifeboatPaths
    ) -> None:
        super().__init__()
        self.login_item = login_item
        self.start_at_login = QCheckBox("Start Lifeboat when I log in")
        self.start_at_login.setObjectName("start-at-login")
        self.start_at_login.setChecked(login_item.is_enabled())
        notices = self._notices(preferences)
        where = path_links(paths)  # each opens the file (or its folder)
        layout = QVBoxLayout(self)
        layout.addWidget(self.start_at_login)
        layout.addWidget(notices)
        layout.addStretch(1)
        layout.addWidget(where)

    def _notices(self, preferences: TrayPreferences) -> QGroupBox:
        self.notify_failures = QCheckBox("When a backup fails (and when it works again)")
        self.notify_failures.setObjectName("notify-failures")
        self.notify_failures.setChecked(preferences.notify_failures)
        self.notify_stale = QCheckBox(
            "When a database is overdue: no good backup for longer than its overdue alarm"
        )
        self.notify_stale.setObjectName("notify-stale")
        self.notify_stale.setChecked(preferences.notify_stale)
        self.notify_remote = QCheckBox(
            "When uploads to a remote have failed for a day (and when they work again)"
        )
        self.notify_remote.setObjectName("notify-remote")
        self.notify_remote.setChecked(preferences.notify_remote)
        notices = QGroupBox("Notify me")
        box = QVBoxLayout(notices)
        box.addWidget(self.notify_failures)
        box.addWidget(self.notify_stale)
        box.addWidget(self.notify_remote)
        quiet = QLabel("Lifeboat never notifies about backups that work.")
        quiet.setEnabled(False)
        box.addWidget(quiet)
        return notices

    def save(self, service: Service) -> TrayPreferences:
        """Save the preferences ticked here and switch the login item to match (raises
        LifeboatError or OSError when either cannot be written)."""
        preferences = TrayPreferences(
            notify_failures=self.notify_failures.isChecked(),
            notify_stale=self.notify_stale.isChecked(),
            notify_remote=self.notify_remote.isChecked(),
        )
        preferences.save(service)
        if self.start_at_login.isChecked() != self.login_item.is_enabled():
            self.login_item.set_enabled(self.start_at_login.isChecked())
        return preferences
