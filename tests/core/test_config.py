"""Config validation: every bad value names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.core.config import load_config, save_config
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.runs import start_run
from lifeboat.foundation.errors import ConfigError

GOOD = """\
[general]
compression_level = 5

[sources.notes]
path = "/data/notes.db"
schedule = "weekly mon,thu 03:00"
keep = "last=7,daily=7"
check = "full"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path: Path):
    config = load_config(write(tmp_path, GOOD))
    notes = config.sources["notes"]
    assert notes.path == Path("/data/notes.db")
    assert notes.check == "full" and notes.keep == "last=7,daily=7"
    assert config.general.compression_level == 5


def test_missing_file_is_an_empty_config(tmp_path: Path):
    config = load_config(tmp_path / "none.toml")
    assert config.sources == {}


@pytest.mark.parametrize(
    ("change", "line", "key", "words"),
    [
        (
            ('schedule = "weekly mon,thu 03:00"', 'schedule = "dayly"'),
            6,
            "sources.notes.schedule",
            "unknown schedule",
        ),
        (
            ('keep = "last=7,daily=7"', 'keep = "last=7,fortnightly=2"'),
            7,
            "sources.notes.keep",
            "unknown key",
        ),
        (('check = "full"', 'check = "thorough"'), 8, "sources.notes.check", "one of"),
        (('check = "full"', 'colour = "blue"'), 8, "sources.notes.colour", "unknown setting"),
        (
            ('path = "/data/notes.db"', 'path = "relative/notes.db"'),
            5,
            "sources.notes.path",
            "absolute",
        ),
        (('path = "/data/notes.db"', "path = 42"), 5, "sources.notes.path", "path"),
        (
            ("compression_level = 5", "compression_level = 99"),
            2,
            "general.compression_level",
            "1 to 19",
        ),
        (("[sources.notes]", '[sources."bad name!"]'), 4, "sources.bad name!", "name"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path: Path, change, line, key, words):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = err.value.message
    assert message.startswith(f"{path}:{line}: {key}:"), message
    assert words in message
    assert "\n" not in message


def test_missing_path_is_reported(tmp_path: Path):
    path = write(tmp_path, '[sources.notes]\nschedule = "hourly"\n')
    with pytest.raises(ConfigError, match=r"config.toml:1: sources.notes: missing 'path'"):
        load_config(path)


def test_malformed_toml_is_a_clear_error(tmp_path: Path):
    path = write(tmp_path, "[sources.notes\npath = 1\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(path)


def test_unknown_top_level_table(tmp_path: Path):
    path = write(tmp_path, GOOD + "\n[remotez]\nx = 1\n")
    with pytest.raises(ConfigError, match=r":10: remotez: unknown setting"):
        load_config(path)


def test_save_round_trips_and_is_atomic(tmp_path: Path):
    path = tmp_path / "sub" / "config.toml"
    config = Config(path=path).with_source(
        SourceConfig(
            name="a-b_1", path=Path("/x/a.db"), dest=Path("/backups"), schedule="every 15m"
        )
    )
    run = start_run(tmp_path / "run")
    path.parent.mkdir()
    save_config(config, run)
    again = load_config(path)
    assert again.sources == config.sources
    assert not [p for p in path.parent.iterdir() if p.name != "config.toml"]
    assert "keyring" in path.read_text()
