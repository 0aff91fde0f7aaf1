"""The name a person sees (the display name, or the name) in the status other screens
read, and the safe name derived from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.service import Service
from lifeboat.service.sources import safe_source_name
from tests.helpers.databases import make_db


def test_the_status_says_each_source_s_title(home: Path, tmp_path: Path):
    service = Service()
    service.add_source(make_db(tmp_path / "My Notes.db"), display_name="My Notes")
    service.add_source(make_db(tmp_path / "crm.db", seed=1))
    by_name = {s.name: s for s in service.status().sources}
    assert by_name["My-Notes"].title == "My Notes"
    assert by_name["crm"].title == "crm"
    assert by_name["My-Notes"].to_json()["title"] == "My Notes"


@pytest.mark.parametrize(
    ("title", "taken", "name"),
    [
        ("My Notes", (), "My-Notes"),
        ("My Notes", ("My-Notes",), "My-Notes-2"),
        ("My Notes", ("My-Notes", "My-Notes-2"), "My-Notes-3"),
        ("  Café & Bar  ", (), "Caf-Bar"),
        ("über", (), "ber"),
        ("日本", (), "db"),
        ("-x-", (), "x"),
    ],
)
def test_safe_names_from_titles(title: str, taken: tuple[str, ...], name: str):
    assert safe_source_name(title, taken) == name
