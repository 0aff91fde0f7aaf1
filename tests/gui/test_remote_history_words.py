"""The main window's note of how far the remote holds a source's continuous history."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from lifeboat.gui.live_status import remote_history_words
from tests.service.test_problems import NOW, status


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"remote": None}, None),  # no remote
        ({"remote": "offsite"}, "not on offsite yet"),
        ({"remote": "offsite", "remote_history_until": NOW}, "on offsite too"),
        (
            {"remote": "offsite", "remote_history_until": NOW - timedelta(seconds=12)},
            "offsite: 12 s behind",
        ),
        (
            {"remote": "offsite", "remote_history_until": NOW - timedelta(minutes=5)},
            "offsite: 5 min behind",
        ),
        ({"remote": "offsite", "continuous_every": 60.0}, None),  # a rollback journal's
    ],
)
def test_remote_history_words(changes: dict[str, object], words: str | None):
    source = replace(status(**changes), continuous=True, last_capture=NOW)
    assert remote_history_words(source) == words
