"""The tray icon and its menu, driven like a user: real service, scheduler thread,
catalog and databases."""

from __future__ import annotations

from pathlib import Path

from lifeboat.core.scheduler_lock import SchedulerLock
from lifeboat.gui.app import TrayApp
from lifeboat.gui.first_run import FirstRunWizard
from lifeboat.gui.icons import state_icon
from lifeboat.scheduling.pause import read_pause
from lifeboat.service import Service
from tests.gui.conftest import menu_text


def snapshot_count(service: Service, source: str) -> int:
    return len(service.snapshots(source))


def test_menu_shows_each_source_and_the_actions(tray_app: TrayApp):
    tray = tray_app.tray
    assert tray is not None
    texts = [a.text() for a in tray.menu.actions() if a.isVisible() and a.text()]
    assert texts[:2] == ["notes — not backed up yet", "crm — not backed up yet"]
    for name in (
        "backup-all",
        "history",
        "restore",
        "settings",
        "pause-hour",
        "open-folder",
        "quit",
    ):
        assert tray.action(name).isVisible()
    assert tray.action("backup-all").text() == "Back up all now"
    assert [a.text() for a in tray.action("backup-one").menu().actions()] == ["notes", "crm"]
    assert "notes — not backed up yet" in tray.toolTip()


def test_back_up_all_goes_through_the_scheduler_queue(qtbot, tray_app: TrayApp, service: Service):
    tray_app.tray.action("backup-all").trigger()
    qtbot.waitUntil(
        lambda: snapshot_count(service, "notes") == 1 and snapshot_count(service, "crm") == 1,
        timeout=20_000,
    )
    # Both jobs end (in either order) and the tray reads the status after the last one.
    qtbot.waitUntil(
        lambda: all(
            menu_text(tray_app, f"source:{name}") == f"{name} — backed up just now"
            for name in ("notes", "crm")
        ),
        timeout=10_000,
    )
    jobs = [j for j in service.workspace.catalog.jobs() if j.kind == "backup"]
    assert sorted((j.source, j.trigger, j.status) for j in jobs) == [
        ("crm", "manual", "ok"),
        ("notes", "manual", "ok"),
    ]
    assert "crm — backed up just now" in tray_app.tray.toolTip()


def test_back_up_one_source_from_its_submenu(qtbot, tray_app: TrayApp, service: Service):
    tray_app.tray.action("backup:crm").trigger()
    qtbot.waitUntil(lambda: snapshot_count(service, "crm") == 1, timeout=20_000)
    qtbot.wait(500)
    assert snapshot_count(service, "notes") == 0


def test_icon_shows_error_after_a_failed_backup_then_ok(
    qtbot, tray_app: TrayApp, service: Service, two_sources: tuple[Path, Path]
):
    tray = tray_app.tray
    qtbot.waitUntil(lambda: tray.icon().cacheKey() == state_icon("ok").cacheKey(), timeout=10_000)
    notes, _ = two_sources
    hidden = notes.with_name("notes.db.away")
    notes.rename(hidden)
    tray.action("backup:notes").trigger()
    qtbot.waitUntil(lambda: tray_app.status.state() == "error", timeout=20_000)
    assert tray.icon().cacheKey() == state_icon("error").cacheKey()
    qtbot.waitUntil(
        lambda: (menu_text(tray_app, "source:notes") or "").startswith("notes — Backup failed: "),
        timeout=10_000,
    )
    assert "Backup of notes failed" in tray.toolTip()
    window = tray_app.window
    assert "notes: Backup failed: " in window.problems_text.text()
    assert window.problems_box.isVisibleTo(window) and not window.restore_good.isVisibleTo(window)
    # the retry is queued just after the failure is recorded: shown on the next read
    qtbot.waitUntil(
        lambda: window.sources.topLevelItem(0).text(2).startswith("retry "), timeout=10_000
    )
    hidden.rename(notes)
    tray.action("backup:notes").trigger()
    qtbot.waitUntil(lambda: tray_app.status.state() == "ok", timeout=20_000)
    assert tray.icon().cacheKey() == state_icon("ok").cacheKey()


def test_pause_for_an_hour_is_kept_and_shown_then_resume(qtbot, tray_app: TrayApp, service):
    tray = tray_app.tray
    qtbot.waitUntil(lambda: tray_app.scheduler.scheduler is not None, timeout=15_000)
    tray.action("pause-hour").trigger()
    qtbot.waitUntil(lambda: tray_app.status.paused, timeout=15_000)
    qtbot.waitUntil(lambda: tray_app.scheduler.scheduler.paused, timeout=15_000)
    resume = tray.action("resume")
    assert resume.isVisible() and not tray.action("pause").isVisible()
    assert resume.text().startswith("Resume backups (paused until ")
    assert "Paused until " in tray.toolTip()
    assert tray.icon().cacheKey() != state_icon("ok").cacheKey(), "the paused badge"
    assert read_pause(service.paths).active(tray_app.status.now()), "kept for a restart"
    assert tray_app.window.subline.text().startswith("Paused until ")
    resume.trigger()
    qtbot.waitUntil(lambda: not tray_app.status.paused, timeout=15_000)
    qtbot.waitUntil(lambda: not tray_app.scheduler.scheduler.paused, timeout=15_000)
    assert tray.action("pause").isVisible() and not resume.isVisible()


def test_open_backup_folder(qtbot, tray_app: TrayApp, opened_urls, home: Path):
    tray_app.tray.action("open-folder").trigger()
    assert opened_urls.paths == [home / "snapshots"]
    tray_app.open_backup_folder("crm")
    assert opened_urls.paths[-1] == home / "snapshots" / "crm"


def test_menu_opens_the_windows(qtbot, tray_app: TrayApp):
    tray = tray_app.tray
    tray.action("history").trigger()
    tray.action("restore").trigger()
    tray.action("settings").trigger()
    tray.action("show-window").trigger()
    tray.action("about").trigger()
    for key in ("history", "restore", "settings", "about"):
        assert tray_app._dialogs[key].isVisible()
    assert tray_app.window.isVisible()
    tray.action("source:crm").trigger()  # a status line opens that source's history
    assert tray_app._dialogs["history"].source_filter.currentData() == "crm"


def test_quit_stops_the_scheduler_and_frees_its_lock(qtbot, tray_app: TrayApp, service: Service):
    lock = SchedulerLock(service.workspace.paths)
    assert lock.holder() is not None
    with qtbot.waitSignal(tray_app.stopped, timeout=15_000):
        tray_app.tray.action("quit").trigger()
    assert tray_app.scheduler is None
    assert lock.holder() is None
    assert not tray_app.tray.isVisible()


def test_first_run_offers_to_add_a_database(qtbot, make_tray):
    tray_app = make_tray()
    tray = tray_app.tray
    assert tray.action("add-database").isVisible()
    assert not tray.action("backup-all").isEnabled()
    assert tray.toolTip().startswith("Lifeboat — No databases to back up yet")
    first_run = tray_app._dialogs["first-run"]  # opened by itself at launch
    assert isinstance(first_run, FirstRunWizard) and first_run.isVisible()
    first_run.close()
    tray.action("add-database").trigger()
    assert tray_app._dialogs["first-run"].isVisible()
