"""Notifications: the changes of the problems (the policy's table tests are in
tests/service/test_notices.py), kept across restarts of the tray."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat.foundation.states import Health
from lifeboat.gui.app import TrayApp
from lifeboat.gui.notifications import Notification, Notifier
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.service import Service
from lifeboat.service.notices import MIN_GAP
from lifeboat.service.problems import SourceProblem

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAILED = SourceProblem("notes", Health.FAILED, "Backup failed: the disk is full")
STALE = SourceProblem("crm", Health.STALE, "Overdue: never backed up")


def test_a_held_notice_is_shown_later_and_what_was_told_is_kept():
    shown: list[Notification] = []
    kept: list[dict[str, Health]] = []
    again: list[datetime] = []
    notes = Notifier(shown.append, TrayPreferences, remember=kept.append, again=again.append)
    notes.update({"notes": FAILED}, ["notes", "crm"], NOW)
    notes.update({"notes": FAILED, "crm": STALE}, ["notes", "crm"], NOW + timedelta(seconds=1))
    assert [n.title for n in shown] == ["Backup of notes failed"]
    assert again == [NOW + MIN_GAP]
    notes.update({"notes": FAILED, "crm": STALE}, ["notes", "crm"], NOW + MIN_GAP)
    assert [n.title for n in shown] == ["Backup of notes failed", "crm is overdue"]
    assert kept[-1] == {"notes": Health.FAILED, "crm": Health.STALE}
    # a restart with what was kept: nothing is repeated
    again_shown: list[Notification] = []
    restarted = Notifier(again_shown.append, TrayPreferences, told=kept[-1])
    restarted.update({"notes": FAILED, "crm": STALE}, ["notes", "crm"], NOW + timedelta(1))
    assert again_shown == []


def test_preferences_turn_kinds_off():
    shown: list[Notification] = []
    prefs = TrayPreferences(notify_failures=False, notify_stale=False, notify_remote=False)
    notes = Notifier(shown.append, lambda: prefs)
    notes.update({"notes": FAILED, "crm": STALE}, ["notes", "crm"], NOW)
    assert shown == []


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
