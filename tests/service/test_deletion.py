"""Deleting a snapshot by hand says when it is the only one retention keeps of its day,
week, month... (the prune's own plan, core/retention.apply_policy), and not when another
snapshot of that period remains or a remote copy keeps it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.gui.snapshot_deletion import delete_question
from lifeboat.service import Service
from tests.helpers.databases import make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def add(service: Service, tmp_path: Path, keep: str) -> None:
    service.add_source(make_db(tmp_path / "notes.db", rows=50), schedule="manual", keep=keep)


def test_the_only_snapshot_kept_of_its_day_and_week_is_named(service: Service, tmp_path: Path):
    add(service, tmp_path, "daily=7,weekly=4")
    service.backup("notes", full=True)
    newest = service.backup("notes", full=True)  # the prune after it removes the first
    assert [r.id for r in service.snapshots("notes")] == [newest.id]
    effects = service.deletion_effects(newest.id)
    assert effects.periods == ("daily", "weekly") == effects.lost_periods
    _, detail = delete_question(effects)
    assert detail.endswith(
        "It is the only snapshot your retention settings keep of its day and its week: "
        "none from that time remains afterwards."
    )
    copied = replace(effects, kept_on=("offsite",))  # a remote copy keeps the period
    assert copied.lost_periods == () and "retention" not in delete_question(copied)[1]


def test_no_warning_when_another_snapshot_of_the_period_remains(service: Service, tmp_path: Path):
    add(service, tmp_path, "daily=7")
    pinned = service.backup("notes", full=True, protect=True)
    newest = service.backup("notes", full=True)
    assert {r.id for r in service.snapshots("notes")} == {pinned.id, newest.id}
    assert service.deletion_effects(newest.id).periods == ()


def test_no_warning_for_a_snapshot_kept_by_count_only(service: Service, tmp_path: Path):
    add(service, tmp_path, "last=3")
    service.backup("notes", full=True)
    newest = service.backup("notes", full=True)
    assert service.deletion_effects(newest.id).periods == ()
