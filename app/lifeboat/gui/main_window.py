"""The main window: the same status and actions as the tray menu, in a small window.

Opened from the tray, by a second launch, and instead of the tray where the desktop has
none (so the app is never invisible). With a tray, closing it only hides it; without
one, closing it asks whether to quit (schedules stop) or keep running minimised.
"""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lifeboat.foundation.states import Health
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.commands import AppCommands
from lifeboat.gui.icons import TrayIcons, app_icon
from lifeboat.gui.live_status import LiveStatus
from lifeboat.gui.messages import ask
from lifeboat.gui.steady import reserve_lines, wrap_column
from lifeboat.gui.text import percent, phase_text, size_text, time_until
from lifeboat.gui.tray import tomorrow_here


class MainWindow(QWidget):
    def __init__(self, status: LiveStatus, commands: AppCommands, icons: TrayIcons) -> None:
        super().__init__()
        self.setObjectName("main-window")
        self.setWindowTitle("Lifeboat")
        self.setWindowIcon(app_icon())
        self.status = status
        self.commands = commands
        self.icons = icons
        self.has_tray = True
        self.quitting = False
        self._build()
        status.changed.connect(self.update_from_status)
        icons.changed.connect(self.update_from_status)
        self.update_from_status()
        self.resize(640, 380)

    def _build(self) -> None:
        head = self._build_header()
        self._build_source_list()
        empty = self._build_welcome()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.sources)
        self.pages.addWidget(empty)
        self._build_progress_row()
        buttons = self._build_buttons()
        self._build_notice()
        self._build_problems()
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.notice)
        layout.addWidget(self.problems_box)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.progress_row)
        layout.addLayout(buttons)

    def _build_header(self) -> QHBoxLayout:
        """The state's icon, the headline and the line under it."""
        self.state_icon = QLabel()
        self.headline = QLabel()
        self.headline.setObjectName("headline")
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.headline.setFont(font)
        self.subline = QLabel()
        self.subline.setObjectName("subline")
        self.subline.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.state_icon)
        texts = QVBoxLayout()
        texts.addWidget(self.headline)
        texts.addWidget(self.subline)
        head.addLayout(texts, 1)
        return head

    def _build_source_list(self) -> None:
        self.sources = QTreeWidget()
        self.sources.setObjectName("sources")
        self.sources.setHeaderLabels(["Database", "Last backup", "Next backup", "Snapshots"])
        self.sources.setRootIsDecorated(False)
        self.sources.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # not a cell box at start
        header = self.sources.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        wrap_column(self.sources, 1)  # a problem's reason is shown whole: its row grows
        self.sources.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.sources.customContextMenuRequested.connect(self._source_menu)
        self.sources.itemDoubleClicked.connect(
            lambda item, _col: self.commands.show_history(item.data(0, Qt.ItemDataRole.UserRole))
        )

    def _build_welcome(self) -> QWidget:
        """The page shown instead of the list while there are no databases."""
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        welcome = QLabel(
            "Lifeboat keeps copies of your SQLite databases, checks them, and "
            "puts them back in one step when something goes wrong.\n\n"
            "Start by choosing a database to protect."
        )
        welcome.setWordWrap(True)
        welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.add_button = QPushButton("Add a database…")
        self.add_button.setObjectName("add-database")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(lambda: self.commands.add_database())
        empty_layout.addWidget(welcome)
        empty_layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(1)
        return empty

    def _build_progress_row(self) -> None:
        """What runs now and its progress (hidden while nothing runs)."""
        self.progress_text = reserve_lines(QLabel())
        self.progress_text.setObjectName("progress-text")
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setMaximumWidth(220)
        self.progress_row = QWidget()
        progress_layout = QHBoxLayout(self.progress_row)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addWidget(self.progress_text, 1)
        progress_layout.addWidget(self.progress)
        keep = self.progress_row.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the list does not jump when a job starts
        self.progress_row.setSizePolicy(keep)
        self.progress_row.hide()

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.backup_button = self._button(
            buttons, "backup-all", "Back up now", lambda: self.commands.backup_now(None)
        )
        self._button(buttons, "restore", "Restore…", lambda: self.commands.show_restore(None))
        self._button(buttons, "history", "History…", lambda: self.commands.show_history(None))
        self._button(buttons, "settings", "Settings…", lambda: self.commands.show_settings())
        buttons.addStretch(1)
        self.pause_button = self._button(buttons, "pause", "Pause backups", self._pause_clicked)
        self.pause_menu = QMenu(self.pause_button)
        self.pause_menu.addAction(
            "For 1 hour",
            lambda: self.commands.set_paused(True, self.status.now() + timedelta(hours=1)),
        )
        self.pause_menu.addAction(
            "Until tomorrow",
            lambda: self.commands.set_paused(True, tomorrow_here(self.status.now())),
        )
        self.pause_menu.addAction("Until I resume", lambda: self.commands.set_paused(True))
        self._button(
            buttons,
            "open-folder",
            "Open backup folder",
            lambda: self.commands.open_backup_folder(None),
        )
        return buttons

    def _build_notice(self) -> None:
        """The banner for notifications where there is no tray (hidden until one comes)."""
        self.notice = QFrame()
        self.notice.setObjectName("notice")
        self.notice.setFrameShape(QFrame.Shape.StyledPanel)
        self.notice_text = QLabel()
        self.notice_text.setWordWrap(True)
        self.notice_text.setTextFormat(Qt.TextFormat.PlainText)
        dismiss = QToolButton()
        dismiss.setText("✕")
        dismiss.setAutoRaise(True)
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(self.notice.hide)
        notice_layout = QHBoxLayout(self.notice)
        notice_layout.addWidget(self.notice_text, 1)
        notice_layout.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.notice.hide()

    def _build_problems(self) -> None:
        """Each current problem in words, and for a damaged database its one action."""
        self.problems_box = QFrame()
        self.problems_box.setObjectName("problems")
        self.problems_text = QLabel()
        self.problems_text.setObjectName("problems-text")
        self.problems_text.setWordWrap(True)
        self.problems_text.setTextFormat(Qt.TextFormat.PlainText)
        self.restore_good = QPushButton("Restore the last good snapshot…")
        self.restore_good.setObjectName("restore-good")
        self.restore_good.clicked.connect(self._restore_damaged)
        box = QVBoxLayout(self.problems_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.problems_text)
        box.addWidget(self.restore_good, 0, Qt.AlignmentFlag.AlignLeft)
        self.problems_box.hide()

    def _damaged(self) -> list[str]:
        return [p.source for p in self.status.problems.values() if p.kind is Health.DAMAGED]

    def _restore_damaged(self) -> None:
        damaged = self._damaged()
        if damaged:
            self.commands.show_restore(damaged[0])

    def _pause_clicked(self) -> None:
        if self.status.paused:
            self.commands.set_paused(False)
        else:
            self.pause_menu.popup(
                self.pause_button.mapToGlobal(self.pause_button.rect().bottomLeft())
            )

    def _button(self, layout: QHBoxLayout, name: str, text: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        layout.addWidget(button)
        return button

    def button(self, name: str) -> QPushButton:
        found = self.findChild(QPushButton, name)
        if found is None:
            raise KeyError(name)
        return found

    # -- updating ----------------------------------------------------------------------

    def update_from_status(self) -> None:
        status = self.status
        state = status.state()
        self.state_icon.setPixmap(self.icons.icon(state).pixmap(48, 48))
        self.headline.setText(status.summary())
        self.subline.setText(self._subline())
        known = status.status is not None
        self.pages.setCurrentIndex(1 if known and not status.sources else 0)
        self.sources.clear()
        for source in status.sources:
            item = QTreeWidgetItem(
                [
                    source.title,
                    status.source_detail(source),
                    status.next_backup(source),
                    f"{source.snapshots} ({size_text(source.snapshot_bytes)})",
                ]
            )
            item.setIcon(0, self.icons.icon(status.source_state(source)))
            item.setData(0, Qt.ItemDataRole.UserRole, source.name)
            item.setToolTip(0, source.path)
            item.setToolTip(1, status.source_detail(source))
            item.setToolTip(2, source.schedule_description)
            self.sources.addTopLevelItem(item)
        self.backup_button.setEnabled(bool(status.sources))
        self.backup_button.setText("Back up all now" if len(status.sources) > 1 else "Back up now")
        self.pause_button.setText("Resume backups" if status.paused else "Pause backups…")
        problems = status.problem_lines()
        self.problems_text.setText("\n".join(problems))
        self.problems_box.setVisible(bool(problems))
        damaged = self._damaged()
        self.restore_good.setVisible(bool(damaged))
        if damaged:
            self.restore_good.setText(f"Restore the last good snapshot of {damaged[0]}…")
        running = [j for j in status.activity.values() if j.running]
        if running:
            job = running[0]
            self.progress.setRange(0, 100 if job.total else 0)
            self.progress.setValue(percent(job.done, job.total))
            what = {"backup": "Backing up", "restore": "Restoring", "verify": "Verifying"}.get(
                job.kind, job.kind.capitalize()
            )
            phase = f": {phase_text(job.phase).lower()}" if job.phase else ""
            self.progress_text.setText(f"{what} {job.source or ''}{phase}…")
            self.progress_row.show()
        else:
            self.progress_row.hide()

    def _subline(self) -> str:
        status = self.status
        if status.watching_pid:
            return (
                "Backups are scheduled by the Lifeboat service running in the background "
                f"(process {status.watching_pid}); this window shows its work."
            )
        if status.paused:
            return f"{status.pause_text()}: no scheduled backup runs until then."
        if not status.sources:
            return ""
        upcoming = [(s.next_run, s.name) for s in status.sources if s.next_run]
        if not upcoming:
            return "Every database is backed up only when you ask."
        when, name = min(upcoming, key=lambda run: run[0])
        return f"Next backup: {name} {time_until(when, status.now())}."

    def _source_menu(self, point: QPoint) -> None:
        item = self.sources.itemAt(point)
        if item is None:
            return
        name = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        if name in self._damaged():
            menu.addAction(
                "Restore the last good snapshot…", lambda: self.commands.show_restore(name)
            )
        menu.addAction("Back up now", lambda: self.commands.backup_now(name))
        menu.addAction("Restore…", lambda: self.commands.show_restore(name))
        menu.addAction("History…", lambda: self.commands.show_history(name))
        menu.addAction("Browse…", lambda: self.commands.show_browse(PointWanted(name)))
        menu.addAction("Open backup folder", lambda: self.commands.open_backup_folder(name))
        self.source_menu = menu  # kept while open (and for the tests)
        menu.popup(self.sources.viewport().mapToGlobal(point))

    def show_notice(self, title: str, text: str, level: str) -> None:
        """A notification where there is no tray to show it: a banner in this window."""
        colours = {"error": "#fce8e6", "warning": "#fef7e0", "info": "#e6f4ea"}
        self.notice.setStyleSheet(
            f"#notice {{ background: {colours.get(level, '#eeeeee')};"
            " border-radius: 4px; } #notice QLabel { color: #202124; }"
        )
        self.notice_text.setText(f"{title}\n{text}")
        self.notice.show()

    # -- closing -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quitting or self.has_tray:
            event.accept()
            return
        event.ignore()
        ask(
            self,
            "Quit Lifeboat?",
            "Quit Lifeboat?",
            "There is no system tray here, so closing this window quits Lifeboat and "
            "scheduled backups stop until you start it again. Minimise it instead to "
            "keep them running.",
            "Quit",
            self.commands.quit,
            no="Keep running",
            on_no=self.showMinimized,
        )
