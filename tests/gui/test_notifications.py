"""Notifications: only real problems and the recovery after one, rate-limited."""

from __future__ import annotations

from lifeboat.gui.app import TrayApp
from lifeboat.gui.notifications import BURST, REPEAT_AFTER, Notification, Notifier
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.service import Service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def notifier(prefs: TrayPreferences | None = None) -> tuple[Notifier, list[Notification], Clock]:
    shown: list[Notification] = []
    clock = Clock()
    return Notifier(shown.append, lambda: prefs or TrayPreferences(), clock=clock), shown, clock


def test_a_failure_then_its_recovery():
    notes, shown, _ = notifier()
    notes.on_health("notes", "failed", "notes: cannot read /x/notes.db")
    notes.on_health("notes", "recovered", "notes: backed up again")
    assert [(n.title, n.level) for n in shown] == [
        ("Backup of notes failed", "error"),
        ("notes is backed up again", "info"),
    ]
    assert shown[0].text == "notes: cannot read /x/notes.db"


def test_no_recovery_notice_without_a_problem_told():
    notes, shown, _ = notifier()
    notes.on_health("notes", "recovered", "notes: backed up again")
    assert shown == []
    notes.remember("notes", "stale")  # a problem that was there when the tray started
    notes.on_health("notes", "recovered", "notes: backed up again")
    assert [n.title for n in shown] == ["notes is backed up again"]


def test_the_same_notice_is_not_repeated_within_hours():
    notes, shown, clock = notifier()
    notes.on_health("notes", "stale", "notes is stale: never backed up")
    clock.now += 60
    notes.on_health("notes", "stale", "notes is stale: never backed up")
    assert len(shown) == 1
    assert shown[0].text == "notes has no recent good backup. Never backed up."
    clock.now += REPEAT_AFTER
    notes.on_health(
        "notes", "stale", "notes is stale: newest good snapshot 2026-11-20T03:00:00+00:00"
    )
    assert len(shown) == 2
    assert shown[1].text.endswith("The newest good snapshot is from 2026-11-20 03:00 UTC.")


def test_a_burst_is_cut_short_and_the_rest_counted():
    notes, shown, clock = notifier()
    for n in range(BURST + 2):
        notes.on_health(f"db{n}", "failed", "boom")
    assert len(shown) == BURST
    clock.now += 3600
    notes.on_health("late", "failed", "boom")
    assert shown[-1].text == "boom\n(and 2 more notices: see History)"


def test_preferences_turn_kinds_off():
    notes, shown, _ = notifier(
        TrayPreferences(notify_failures=False, notify_stale=False, notify_remote=False)
    )
    notes.on_health("notes", "failed", "boom")
    notes.on_health("notes", "stale", "notes is stale: never backed up")
    notes.on_health("notes", "remote-unreachable", "notes: 2 snapshot(s) have waited")
    assert shown == []


def test_a_remote_unreachable_then_uploads_caught_up():
    notes, shown, _ = notifier()
    notes.on_health(
        "notes",
        "remote-unreachable",
        "notes: 2 snapshot(s) have waited more than a day for remote offsite",
    )
    notes.on_health("notes", "recovered", "notes: uploads caught up")
    assert [(n.title, n.level) for n in shown] == [
        ("Cannot upload notes", "warning"),
        ("Uploads of notes work again", "info"),
    ]
    assert shown[0].text.startswith(
        "2 snapshot(s) have waited more than a day for remote "
        "offsite. The snapshots are safe on this computer"
    )


def test_a_failing_scheduled_source_notifies_once(qtbot, make_tray, two_sources, service: Service):
    notes, _ = two_sources
    notes.unlink()
    tray_app: TrayApp = make_tray()
    tray_app.backup_now("notes")
    qtbot.waitUntil(lambda: len(tray_app.notifier.shown) == 1, timeout=20_000)
    note = tray_app.notifier.shown[0]
    assert note.title == "Backup of notes failed" and "no such file" in note.text
    tray_app.backup_now("crm")  # a success elsewhere: no notice
    qtbot.waitUntil(lambda: len(service.snapshots("crm")) == 1, timeout=20_000)
    qtbot.wait(800)
    assert len(tray_app.notifier.shown) == 1
