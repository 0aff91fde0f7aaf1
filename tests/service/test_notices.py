"""Notices are the changes of the problems: table tests of the pure decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifeboat.foundation.states import Health
from lifeboat.service.notices import MIN_GAP, decide
from lifeboat.service.problems import SourceProblem

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAILED = SourceProblem("crm", Health.FAILED, "Backup failed: disk full")
DAMAGED = SourceProblem("crm", Health.DAMAGED, "The database file is damaged")
NOTES_STALE = SourceProblem("notes", Health.STALE, "Overdue: never backed up")
SHOP_UPLOAD = SourceProblem("shop", Health.REMOTE_UNREACHABLE, "Upload to offsite failed")
KNOWN = ["crm", "notes", "shop"]


@pytest.mark.parametrize(
    ("told", "problems", "title", "level"),
    [
        ({}, {}, None, None),
        ({}, {"crm": FAILED}, "Backup of crm failed", "error"),
        # the same problem again (a retry failed too): nothing new
        ({"crm": Health.FAILED}, {"crm": FAILED}, None, None),
        # within a failure streak the live file turns out damaged: a new notice
        ({"crm": Health.FAILED}, {"crm": DAMAGED}, "The database crm is damaged", "error"),
        ({"crm": Health.FAILED}, {}, "crm is backed up again", "info"),
        ({"shop": Health.REMOTE_UNREACHABLE}, {}, "Uploads of shop work again", "info"),
        ({"crm": Health.DRILL_FAILED}, {}, "Restore drill of crm passed", "info"),
        # a burst: one notice naming them all
        (
            {},
            {"crm": FAILED, "notes": NOTES_STALE, "shop": SHOP_UPLOAD},
            "3 databases need attention",
            "error",
        ),
        # one problem and a recovery: the problem leads
        ({"notes": Health.STALE}, {"crm": FAILED}, "Backup of crm failed", "error"),
        ({"crm": Health.FAILED, "notes": Health.STALE}, {}, "2 databases are fine again", "info"),
        # a source that was removed: its problem ends silently
        ({"gone": Health.FAILED}, {}, None, None),
    ],
)
def test_a_change_of_problem_is_a_notice(told, problems, title, level):
    decision = decide(told, problems, KNOWN, NOW, last_shown=None)
    assert (decision.notice.title if decision.notice else None) == title
    assert (decision.notice.level if decision.notice else None) == level
    assert decision.told == {s: p.kind for s, p in problems.items()}


def test_a_burst_names_every_change_most_serious_first():
    decision = decide(
        {"crm": Health.FAILED},
        {"crm": DAMAGED, "notes": NOTES_STALE, "shop": SHOP_UPLOAD},
        KNOWN,
        NOW,
        last_shown=None,
    )
    assert decision.notice is not None
    assert decision.notice.text.splitlines() == [
        "crm: The database file is damaged",
        "notes: Overdue: never backed up",
        "shop: Upload to offsite failed",
    ]


def test_too_soon_after_the_last_notice_it_waits_then_shows_them_together():
    first = decide({}, {"crm": FAILED}, KNOWN, NOW, last_shown=None)
    assert first.notice is not None
    soon = NOW + timedelta(seconds=5)
    held = decide(first.told, {"crm": FAILED, "notes": NOTES_STALE}, KNOWN, soon, last_shown=NOW)
    assert held.notice is None and held.again_at == NOW + MIN_GAP
    assert held.told == {"crm": Health.FAILED}, "held back: not told yet"
    later = decide(
        held.told,
        {"crm": FAILED, "notes": NOTES_STALE, "shop": SHOP_UPLOAD},
        KNOWN,
        NOW + MIN_GAP,
        last_shown=NOW,
    )
    assert later.notice is not None and later.notice.title == "2 databases need attention"


def test_what_cannot_be_shown_yet_is_shown_later():
    held = decide({}, {"crm": FAILED}, KNOWN, NOW, last_shown=None, can_show=False)
    assert held.notice is None and held.told == {}
    shown = decide(held.told, {"crm": FAILED}, KNOWN, NOW, last_shown=None, can_show=True)
    assert shown.notice is not None and shown.notice.title == "Backup of crm failed"


def test_kinds_turned_off_count_as_told_without_a_notice():
    def wanted(kind: Health) -> bool:
        return kind is not Health.STALE

    decision = decide({}, {"notes": NOTES_STALE}, KNOWN, NOW, last_shown=None, wanted=wanted)
    assert decision.notice is None and decision.told == {"notes": Health.STALE}
    ended = decide(decision.told, {}, KNOWN, NOW, last_shown=None, wanted=wanted)
    assert ended.notice is None and ended.told == {}


def test_the_damaged_notice_says_what_to_do_in_the_guis_words():
    decision = decide({}, {"crm": DAMAGED}, KNOWN, NOW, last_shown=None)
    assert decision.notice is not None
    text = decision.notice.text
    assert "Restore the last good snapshot…" in text and "`" not in text and "--" not in text
