"""One validator for a source: loading, the CLI and the Settings dialog ask the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.core.config import parse_config, source_problems
from lifeboat.core.config_model import Config, GeneralConfig, RemoteConfig, SourceConfig
from lifeboat.core.retention import DEFAULT_KEEP
from lifeboat.foundation.errors import ConfigError
from lifeboat.service.source_changes import SourceDraft, check_changes, staged_source

NOTES = SourceConfig(name="notes", path=Path("/data/notes.db"))
OFFSITE = RemoteConfig(name="offsite", provider="s3", bucket="my-bucket", region="eu-west-1")


def config(recipients: list[str] | None = None) -> Config:
    return Config(
        path=Path("/nowhere/config.toml"),
        general=GeneralConfig(recipients=recipients or []),
        sources={"notes": NOTES},
        remotes={"offsite": OFFSITE},
    )


def test_a_new_source_may_not_take_a_name_or_database_already_backed_up():
    problems = source_problems(
        SourceConfig(name="notes", path=Path("/data/notes.db")),
        sources={"notes": NOTES},
        remotes=(),
        recipients=(),
        is_new=True,
    )
    assert [key for key, _ in problems] == ["name"]
    problems = source_problems(
        SourceConfig(name="other", path=Path("/data/notes.db")),
        sources={"notes": NOTES},
        remotes=(),
        recipients=(),
        is_new=True,
    )
    assert problems == [("path", "/data/notes.db is already backed up as source 'notes'")]


def test_a_remote_must_exist_and_local_encryption_needs_a_key():
    source = SourceConfig(name="x", path=Path("/x.db"), remote="nowhere", encrypt_local=True)
    keys = [k for k, _ in source_problems(source, sources={}, remotes=(), recipients=())]
    assert keys == ["remote", "encrypt_local"]
    assert source_problems(source, sources={}, remotes=("nowhere",), recipients=("age1x",)) == []


def test_every_problem_of_a_change_is_found_at_once():
    source, problems = staged_source(
        "notes",
        Path("/other.db"),
        {"keep": "forever", "schedule": "daily 03:00", "remote": "nowhere"},
        is_new=True,
        sources={"notes": NOTES},
        remotes={"offsite"},
        recipients=[],
    )
    assert source is None
    assert sorted(key for key, _ in problems) == ["keep", "name", "remote"]


def test_a_valid_change_gives_the_source_with_its_values_normalised():
    source, problems = staged_source(
        "notes",
        NOTES.path,
        {"schedule": "Daily 04:00", "stale_after": None, "remote": "offsite"},
        is_new=False,
        sources={"notes": NOTES},
        remotes={"offsite"},
        recipients=[],
    )
    assert problems == []
    assert source is not None and source.remote == "offsite" and source.stale_after is None
    assert source.backup_schedule.spec == source.schedule


def new_draft(name: str, path: str) -> SourceDraft:
    return SourceDraft(
        name=name, path=Path(path), schedule="daily 03:00", keep=DEFAULT_KEEP, is_new=True
    )


def test_the_dialog_checks_staged_sources_against_each_other():
    a = new_draft("crm", "/crm.db")
    b = new_draft("crm", "/crm.db")
    problems = check_changes(config(), [a, b], removed=[])
    assert {(p.index, p.field) for p in problems} == {(1, "name")}
    d = new_draft("crm2", "/crm.db")
    problems = check_changes(config(), [a, d], removed=[])
    assert {(p.index, p.field) for p in problems} == {(1, "path")}
    # A removed source frees its name for a new one in the same save.
    c = new_draft("notes", "/new.db")
    assert check_changes(config(), [c], removed=["notes"]) == []


def test_loading_applies_the_same_rules(tmp_path: Path):
    data = {"sources": {"notes": {"path": "/data/notes.db", "encrypt_local": True}}}
    with pytest.raises(ConfigError, match=r"sources\.notes\.encrypt_local: there is no encryption"):
        parse_config(data, tmp_path / "config.toml")
