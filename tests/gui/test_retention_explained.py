"""Settings → Retention: the preview lists each snapshot with why it is kept, or that it
would be removed, from the real retention decisions over real snapshots."""

from __future__ import annotations

from lifeboat.gui.app import TrayApp
from lifeboat.gui.settings_dialog import RETENTION_TAB, SettingsDialog
from lifeboat.service import Service
from tests.helpers.databases import change_db


def retention_of(tray_app: TrayApp, row: int) -> SettingsDialog:
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    assert isinstance(dialog, SettingsDialog)
    dialog.tabs.setCurrentIndex(RETENTION_TAB)
    dialog.retention_source.setCurrentIndex(row)
    return dialog


def test_the_preview_says_why_each_snapshot_is_kept(qtbot, tray_app: TrayApp, service: Service):
    crm = service.source("crm").path
    base = service.backup("crm", full=True)
    differentials = []
    for _ in range(2):
        change_db(crm)  # an unchanged database is not stored again
        differentials.append(service.backup("crm"))
    assert all(d.manifest.base == base.id for d in differentials)
    pinned = service.backup("crm", full=True)
    service.set_protected(pinned.id, True)
    newest = service.backup("crm", full=True)
    retention = retention_of(tray_app, 1).retention
    for bucket, spin in retention.counts.items():
        spin.setValue(1 if bucket == "last" else 0)
    qtbot.waitUntil(lambda: retention.plan.topLevelItemCount() == 5, timeout=30_000)
    qtbot.waitUntil(
        lambda: retention.preview.text().startswith("keeps 2, deletes 3"), timeout=30_000
    )
    assert retention.plan.lines_shown() == [
        ("Kept", "The newest"),
        ("Kept", "Pinned by you"),
        ("Deleted", "No rule keeps it"),
        ("Deleted", "No rule keeps it"),
        ("Deleted", "No rule keeps it"),
    ]
    assert newest.id != pinned.id
    # Keeping the newest differential keeps the full snapshot it is built on.
    retention.counts["last"].setValue(3)
    needed = "Needed by 2 kept snapshots that hold only changes since it"
    qtbot.waitUntil(lambda: ("Kept", needed) in retention.plan.lines_shown(), timeout=30_000)
    assert retention.plan.lines_shown()[-1] == ("Kept", needed)  # the oldest: the base
    assert ("Kept", "One of the 3 newest") in retention.plan.lines_shown()


def test_no_list_for_a_database_without_snapshots(qtbot, tray_app: TrayApp):
    retention = retention_of(tray_app, 0).retention
    retention.counts["last"].setValue(4)
    qtbot.waitUntil(lambda: retention.preview.text() == "no snapshots yet", timeout=30_000)
    assert retention.plan.topLevelItemCount() == 0
