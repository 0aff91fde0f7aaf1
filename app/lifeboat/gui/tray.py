"""The tray icon and its menu.

The icon shows the overall state (ok, running, warning, error) and the tooltip each
source's last backup. The menu starts with one line per source ("notes — 12 min ago",
which opens its history), then the actions. Texts update in place as the status
changes; the per-source entries are rebuilt only when the sources change, and never
while the menu is open.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from lifeboat.foundation.states import Health
from lifeboat.gui.commands import AppCommands
from lifeboat.gui.icons import TrayIcons
from lifeboat.gui.live_status import LiveStatus
from lifeboat.scheduling.pause import tomorrow

#: A menu line longer than this is cut (its whole text is its tooltip and in the window).
MENU_LINE = 90


class TrayIcon(QSystemTrayIcon):
    def __init__(
        self,
        status: LiveStatus,
        commands: AppCommands,
        icons: TrayIcons,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.status = status
        self.commands = commands
        self.icons = icons
        self.menu = QMenu()
        self.menu.setObjectName("tray-menu")
        self._source_names: list[str] | None = None
        self._source_actions: dict[str, QAction] = {}
        self._restore_actions: dict[str, QAction] = {}  # shown while a database is damaged
        self._rebuild_pending = False
        self._build_fixed_actions()
        self.setContextMenu(self.menu)
        self.activated.connect(self._on_activated)
        self.menu.aboutToHide.connect(self._after_menu_closed)
        status.changed.connect(self.update_from_status)
        icons.changed.connect(self.update_from_status)
        self.update_from_status()

    def action(self, name: str) -> QAction:
        """A menu action by name (backup-all, history, restore, settings, pause,
        open-folder, show-window, quit, add-database, or source:NAME, backup:NAME)."""
        found = self.menu.findChild(QAction, name)
        if found is None:
            raise KeyError(name)
        return found

    # -- building ----------------------------------------------------------------------

    def _build_fixed_actions(self) -> None:
        menu = self.menu
        self._status_anchor = menu.addSeparator()
        self._add = self._new(
            menu,
            "add-database",
            "Add a database…",
            lambda: self.commands.add_database(),
        )
        self._backup_all = self._new(
            menu, "backup-all", "Back up now", lambda: self.commands.backup_now(None)
        )
        self._backup_one = QMenu("Back up one now", menu)
        self._backup_one_action = menu.addMenu(self._backup_one)
        self._backup_one_action.setObjectName("backup-one")
        menu.addSeparator()
        self._new(menu, "history", "History…", lambda: self.commands.show_history(None))
        self._new(menu, "restore", "Restore…", lambda: self.commands.show_restore(None))
        self._new(menu, "settings", "Settings…", lambda: self.commands.show_settings())
        menu.addSeparator()
        self._pause_menu = QMenu("Pause backups", menu)
        self._pause_action = menu.addMenu(self._pause_menu)
        self._pause_action.setObjectName("pause")
        for name, text, until in (
            ("pause-hour", "For 1 hour", lambda: self.status.now() + timedelta(hours=1)),
            ("pause-tomorrow", "Until tomorrow", lambda: tomorrow_here(self.status.now())),
            ("pause-indefinitely", "Until I resume", lambda: None),
        ):
            self._new(
                self._pause_menu,
                name,
                text,
                lambda _=False, u=until: self.commands.set_paused(True, u()),
            )
        self._resume = self._new(
            menu, "resume", "Resume backups", lambda: self.commands.set_paused(False)
        )
        self._new(
            menu,
            "open-folder",
            "Open backup folder",
            lambda: self.commands.open_backup_folder(None),
        )
        self._new(
            menu, "show-window", "Open Lifeboat window", lambda: self.commands.show_main_window()
        )
        menu.addSeparator()
        self._new(menu, "open-log", "Open log", lambda: self.commands.open_log())
        self._new(menu, "about", "About Lifeboat…", lambda: self.commands.show_about())
        self._new(menu, "quit", "Quit Lifeboat", lambda: self.commands.quit())

    def _new(self, menu: QMenu, name: str, text: str, slot: object) -> QAction:
        action = QAction(text, menu)
        action.setObjectName(name)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _rebuild_sources(self, names: list[str]) -> None:
        for action in [*self._source_actions.values(), *self._restore_actions.values()]:
            self.menu.removeAction(action)
            action.deleteLater()
        self._source_actions = {}
        self._restore_actions = {}
        self._backup_one.clear()
        for name in names:
            line = QAction(name, self.menu)
            line.setObjectName(f"source:{name}")
            line.triggered.connect(lambda _=False, n=name: self.commands.show_history(n))
            self.menu.insertAction(self._status_anchor, line)
            self._source_actions[name] = line
            restore = QAction(f"Restore the last good snapshot of {name}…", self.menu)
            restore.setObjectName(f"restore-good:{name}")
            restore.triggered.connect(lambda _=False, n=name: self.commands.show_restore(n))
            restore.setVisible(False)
            self.menu.insertAction(self._status_anchor, restore)
            self._restore_actions[name] = restore
            one = self._backup_one.addAction(name)
            one.setObjectName(f"backup:{name}")
            one.triggered.connect(lambda _=False, n=name: self.commands.backup_now(n))
        self._source_names = names

    # -- updating ----------------------------------------------------------------------

    def update_from_status(self) -> None:
        status = self.status
        names = [s.name for s in status.sources]
        if names != self._source_names and status.status is not None:
            if self.menu.isVisible():
                self._rebuild_pending = True
            else:
                self._rebuild_sources(names)
        for source in status.sources:
            action = self._source_actions.get(source.name)
            if action is not None:
                action.setText(_menu_text(status.source_line(source)))
                action.setIcon(self.icons.icon(status.source_state(source)))
                action.setToolTip(status.source_line(source))
            problem = status.problems.get(source.name)
            if source.name in self._restore_actions:
                damaged = problem is not None and problem.kind is Health.DAMAGED
                self._restore_actions[source.name].setVisible(damaged)
        has_sources = bool(names)
        self._add.setVisible(status.status is not None and not has_sources)
        self._backup_all.setEnabled(has_sources)
        self._backup_all.setText("Back up all now" if len(names) > 1 else "Back up now")
        self._backup_one_action.setVisible(len(names) > 1)
        paused = status.paused
        self._pause_action.setVisible(not paused)
        self._resume.setVisible(paused)
        if paused:
            self._resume.setText(f"Resume backups ({status.pause_text().lower()})")
        icon = self.icons.icon(status.state())
        self.setIcon(with_pause_badge(icon) if paused else icon)
        self.setToolTip(status.tooltip())

    def _after_menu_closed(self) -> None:
        if self._rebuild_pending:
            self._rebuild_pending = False
            self._source_names = None
            self.update_from_status()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.commands.show_main_window()


def _menu_text(line: str) -> str:
    return line if len(line) <= MENU_LINE else line[: MENU_LINE - 1].rstrip() + "…"


def tomorrow_here(now: datetime) -> datetime:
    """The start of tomorrow in this computer's time zone."""
    local = now.astimezone()
    assert local.tzinfo is not None
    return tomorrow(now, local.tzinfo)


def with_pause_badge(icon: QIcon, size: int = 64) -> QIcon:
    """The state's icon with a pause sign (two bars in a disc) in its lower left corner
    (the state's own badge is in the lower right), so a paused app is seen at a glance."""
    pixmap = icon.pixmap(QSize(size, size))
    if pixmap.isNull():
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    disc = QRectF(0, size * 0.46, size * 0.54, size * 0.54)
    painter.setPen(QPen(QColor("#ffffff"), size * 0.04))
    painter.setBrush(QColor("#3c4043"))
    painter.drawEllipse(disc)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    bar_w, bar_h = disc.width() * 0.14, disc.height() * 0.44
    centre = disc.center()
    for dx in (-0.13, 0.13):
        x = centre.x() + dx * disc.width() - bar_w / 2
        painter.drawRect(QRectF(x, centre.y() - bar_h / 2, bar_w, bar_h))
    painter.end()
    return QIcon(pixmap)
