"""Render the tray menu, the main window, every dialog and each restore wizard page to PNG.

    python tools/screenshots.py [--out docs/screenshots]

Run it on a desktop, or without one: when DISPLAY is unset it starts Xvfb and a system
tray (trayer) itself, so the tray icon and its menu look as on a real panel. Debian:
`apt-get install xvfb trayer` plus Qt's xcb libraries (libxcb-icccm4 libxcb-keysyms1
libxcb-cursor0 libxkbcommon-x11-0). The data is made up in a temporary LIFEBOAT_HOME:
two databases, snapshots of the last weeks, one failed backup.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from screenshots_browse import browse_shots, prepare_browse  # noqa: E402
from screenshots_first_run import first_run_pages, notification  # noqa: E402
from screenshots_moment import make_history, restore_moment, settings_continuous  # noqa: E402
from screenshots_remote import (  # noqa: E402
    add_uploaded_remote,
    history_remote_copies,
    recovery_key,
    remote_tab,
    use_scratch_keyring,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lifeboat-shots-") as tmp, Display() as _:
        os.environ["LIFEBOAT_HOME"] = str(Path(tmp) / "home")
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        Shots(Path(tmp), args.out).run()


def tray_icons_sheet(path: Path) -> None:
    """Every state's tray icon at panel size (22 px) and twice that, on light and dark
    panels: first each panel with the variant drawn for it, then each with the other
    variant (a panel whose colour Lifeboat guessed wrong), then the macOS template."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    from lifeboat.gui.icon_art import STATES
    from lifeboat.gui.icons import icon_path, template_icon

    rows = [
        ("light panel", "#ffffff", False, False),
        ("dark panel", "#1e1e1e", True, False),
        ("light, other variant", "#ececec", True, False),
        ("dark, other variant", "#2d2d2d", False, False),
        ("macOS template", "#f6f6f6", False, True),
    ]
    label_w, cell_w, row_h = 150, 84, 56
    image = QImage(
        label_w + len(STATES) * cell_w, 24 + len(rows) * row_h, QImage.Format.Format_RGB32
    )
    image.fill(QColor("#f0f0f0"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for column, state in enumerate(STATES):
        painter.drawText(
            QRectF(label_w + column * cell_w, 4, cell_w, 18), Qt.AlignmentFlag.AlignCenter, state
        )
    for row, (label, background, dark, mask) in enumerate(rows):
        top = 24 + row * row_h
        painter.fillRect(0, top, image.width(), row_h, QColor(background))
        painter.setPen(QColor("#ffffff" if QColor(background).lightness() < 128 else "#202124"))
        painter.drawText(QRectF(8, top, label_w - 8, row_h), Qt.AlignmentFlag.AlignVCenter, label)
        for column, state in enumerate(STATES):
            left = label_w + column * cell_w
            if mask:  # what the menu bar gets: the silhouette with its holes
                template = template_icon(state)
                painter.drawPixmap(left + 6, top + 17, template.pixmap(22, 22))
                painter.drawPixmap(left + 34, top + 6, template.pixmap(44, 44))
                continue
            renderer = QSvgRenderer(str(icon_path(state, dark)))
            renderer.render(painter, QRectF(left + 6, top + 17, 22, 22))
            renderer.render(painter, QRectF(left + 34, top + 6, 44, 44))
    painter.end()
    image.save(str(path))


class Display:
    """Xvfb and trayer when there is no display (else nothing)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Display:
        if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
            return self
        number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists())
        self.procs.append(
            subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                stderr=subprocess.DEVNULL,
            )
        )
        os.environ["DISPLAY"] = f":{number}"
        time.sleep(1.0)
        if shutil.which("trayer"):
            self.procs.append(
                subprocess.Popen(
                    [
                        "trayer",
                        "--edge",
                        "top",
                        "--align",
                        "right",
                        "--widthtype",
                        "request",
                        "--height",
                        "28",
                        "--transparent",
                        "false",
                        "--tint",
                        "0xe8e8e8",
                        "--SetDockType",
                        "true",
                    ],
                    stderr=subprocess.DEVNULL,
                )
            )
            time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(10)


class Shots:
    def __init__(self, tmp: Path, out: Path) -> None:
        self.tmp = tmp
        self.out = out

    def run(self) -> None:
        from PySide6.QtWidgets import QApplication

        self.app = QApplication([sys.argv[0]])
        self.app.setApplicationName("Lifeboat")
        self.app.setQuitOnLastWindowClosed(False)
        from lifeboat.gui.icons import app_icon

        self.app.setWindowIcon(app_icon())
        use_scratch_keyring(self.tmp)
        self.make_data()
        make_history(self.service, "notes", self.service.source("notes").path)
        self.browsed = prepare_browse(self.service, "notes", self.service.source("notes").path)
        server = add_uploaded_remote(self.service)
        try:
            self.icons_sheet()
            self.first_run()
            self.tray_and_window()
        finally:
            server.stop()
        print(f"screenshots in {self.out}")

    # -- data --------------------------------------------------------------------------

    def make_data(self) -> None:
        from bench.dbgen import build_database

        from lifeboat.core.snapshot import SnapshotRequest, take_snapshot
        from lifeboat.service import Service

        data = self.tmp / "data"
        data.mkdir()
        notes = build_database(data / "notes.db", 3_000_000, seed=1)
        crm = build_database(data / "crm.sqlite", 150_000_000, seed=2)  # restores visibly
        self.service = service = Service()
        service.add_source(notes, schedule="daily 03:00")
        service.add_source(crm, schedule="every 6h", keep="last=8,daily=7,weekly=4")
        for name, ages in (("notes", (20, 9, 3, 2, 1, 0.125)), ("crm", (4, 2, 1, 0.08))):
            config = service.workspace.config()
            src = config.source(name)
            folder = service.workspace.snapshot_folder(config, src)
            for age in ages:
                manifest = take_snapshot(
                    SnapshotRequest(
                        source=name,
                        source_path=src.path,
                        folder=folder,
                        run=service.workspace.run,
                        scratch=service.workspace.scratch(config),
                        reason="scheduled",
                    ),
                    now=datetime.now(UTC) - timedelta(days=age),
                )
                service.workspace.catalog.add_snapshot(manifest, folder)
        pinned = service.snapshots("notes")[-2]
        service.set_protected(pinned.id, True, "pre-migration")
        service.verify(service.snapshots("notes")[1].id)
        service.backup("notes")
        conn = sqlite3.connect(notes)
        conn.execute("update notes set title = 'edited' where id % 7 = 0")
        conn.commit()
        conn.close()

    def add_failure(self) -> None:
        from lifeboat.foundation.states import JobKind, JobStatus, Trigger

        catalog = self.service.workspace.catalog
        job = catalog.start_job(JobKind.BACKUP, "crm", Trigger.SCHEDULED)
        catalog.finish_job(
            job,
            JobStatus.FAILED,
            error="crm: the database stayed locked for 30 s: another program holds a write lock",
        )

    # -- shots -------------------------------------------------------------------------

    def icons_sheet(self) -> None:
        tray_icons_sheet(self.out / "tray-icons.png")

    def first_run(self) -> None:
        from lifeboat.core.workspace import Workspace
        from lifeboat.foundation.paths import resolve_paths
        from lifeboat.gui.icons import TrayIcons
        from lifeboat.gui.live_status import LiveStatus
        from lifeboat.gui.main_window import MainWindow
        from lifeboat.service import Service

        empty = Service(Workspace(resolve_paths({"LIFEBOAT_HOME": str(self.tmp / "empty")})))
        status = LiveStatus(empty)
        window = MainWindow(status, _NoCommands(), TrayIcons())
        status.refresh()
        self.wait_until(lambda: status.status is not None)
        window.show()
        self.save(window, "first-run")
        window.close()
        first_run_pages(self, self.tmp)

    def tray_and_window(self) -> None:
        from lifeboat.gui.app import TrayApp

        tray_app = TrayApp(self.service)
        tray_app.start(show_window=False)
        self.wait_until(lambda: tray_app.status.status is not None)
        self.settle(1500)
        self.tray_menu(tray_app, "tray-menu")
        tray_app.window.resize(660, 330)
        tray_app.show_main_window()
        self.save(tray_app.window, "main-window")
        self.settings(tray_app)
        remote_tab(self, tray_app)
        recovery_key(self, self.service)
        self.history(tray_app)
        history_remote_copies(self, tray_app)
        self.wizard(tray_app)
        restore_moment(self, tray_app)
        browse_shots(self, tray_app, self.browsed)
        settings_continuous(self, tray_app)
        self.add_failure()
        tray_app.status.refresh()
        notification(self, tray_app, "notification-failed")
        self.settle(1500)
        self.tray_menu(tray_app, "tray-menu-failed")
        tray_app.shutdown()

    def tray_menu(self, tray_app: object, name: str) -> None:
        from PySide6.QtCore import QPoint, QRect
        from PySide6.QtGui import QGuiApplication

        tray = tray_app.tray  # type: ignore[attr-defined]
        menu = tray.menu
        icon = tray.geometry()
        menu.popup(QPoint(icon.left(), icon.bottom() + 2) if icon.isValid() else QPoint(600, 40))
        self.settle(700)
        area = menu.geometry()
        if icon.isValid():
            area = area.united(icon).adjusted(-8, -4, 8, 8)
        area = area.intersected(QRect(0, 0, 1280, 900))
        shot = QGuiApplication.primaryScreen().grabWindow(
            0, area.x(), area.y(), area.width(), area.height()
        )
        shot.save(str(self.out / f"{name}.png"))
        menu.hide()
        self.settle(200)

    def settings(self, tray_app: object) -> None:
        tray_app.show_settings()  # type: ignore[attr-defined]
        dialog = tray_app._dialogs["settings"]  # type: ignore[attr-defined]
        self.settle(800)
        self.save(dialog, "settings-databases")
        dialog.source_list.setCurrentRow(1)
        dialog.tabs.setCurrentIndex(1)
        self.settle(1200)
        self.save(dialog, "settings-retention")
        dialog.tabs.setCurrentIndex(3)
        self.save(dialog, "settings-general")
        dialog.tabs.setCurrentIndex(0)
        dialog.source_list.setCurrentRow(0)
        form = dialog.form
        form.schedule.kind.setCurrentIndex(2)
        form.stale_custom.setChecked(True)
        form.stale_after.setText("two days")
        self.settle(300)
        dialog.save()
        self.settle(500)
        self.save(dialog, "settings-invalid")
        text = self.tmp / "todo.txt"
        text.write_text("not a database\n")
        dialog.add_database(text)
        box = self.wait_for_box()
        self.save(box, "add-not-sqlite")
        box.accept()
        dialog.reject()
        self.settle(300)

    def history(self, tray_app: object) -> None:
        tray_app.show_history()  # type: ignore[attr-defined]
        dialog = tray_app._dialogs["history"]  # type: ignore[attr-defined]
        self.wait_until(lambda: dialog.loaded > 0)
        dialog.snapshot_table.selectRow(1)
        self.settle(400)
        self.save(dialog, "history-snapshots")
        dialog.tabs.setCurrentIndex(1)
        dialog.job_table.selectRow(0)
        self.settle(300)
        self.save(dialog, "history-jobs")
        dialog.close()

    def wizard(self, tray_app: object) -> None:
        tray_app.show_restore()  # type: ignore[attr-defined]
        wizard = tray_app._dialogs["restore"]  # type: ignore[attr-defined]
        self.settle(500)
        wizard.page(0).choices.setCurrentRow(1)
        self.save(wizard, "restore-1-database")
        wizard.next()
        self.settle(300)
        self.save(wizard, "restore-2-snapshot")
        wizard.next()
        self.settle(300)
        self.save(wizard, "restore-3-where")
        wizard.next()
        self.settle(300)
        self.save(wizard, "restore-4-confirm")
        wizard.next()
        bar = wizard.progress_page.bar
        self.wait_until(
            lambda: (bar.maximum() == 100 and 15 <= bar.value() <= 85) or not wizard.busy, step_ms=5
        )
        self.save(wizard, "restore-5-progress")
        self.wait_until(lambda: not wizard.busy)
        self.settle(300)
        self.save(wizard, "restore-6-result")
        wizard.accept()

    # -- plumbing ----------------------------------------------------------------------

    def save(self, widget: object, name: str) -> None:
        self.settle(150)
        widget.grab().save(str(self.out / f"{name}.png"))  # type: ignore[attr-defined]
        print(f"  {name}.png")

    def settle(self, ms: int) -> None:
        """Run the event loop for `ms` (QTest.qWait would keep the GIL from the workers)."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(
        self, condition: Callable[[], bool], timeout: float = 60.0, step_ms: int = 50
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the screen did not get there")
            self.settle(step_ms)

    def wait_for_box(self) -> object:
        from PySide6.QtWidgets import QApplication, QMessageBox

        found: list[QMessageBox] = []

        def visible_box() -> bool:
            found[:] = [
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.isVisible()
            ]
            return bool(found)

        self.wait_until(visible_box)
        return found[0]


class _NoCommands:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


if __name__ == "__main__":
    main()
