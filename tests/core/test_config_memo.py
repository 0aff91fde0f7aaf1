"""The config is parsed again only when its bytes changed (core/config_memo.py): the
same bytes give the same Config, any change is read, a broken file is never hidden by
an earlier good parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lifeboat.core.config import load_config
from lifeboat.foundation.errors import ConfigError


def _write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def _sources(n: int, schedule: str = "daily 03:00") -> str:
    return "".join(
        f'[sources.db{i}]\npath = "/data/db{i}.sqlite"\nschedule = "{schedule}"\n' for i in range(n)
    )


def test_the_same_bytes_give_the_same_config(tmp_path: Path):
    path = tmp_path / "config.toml"
    _write(path, _sources(3))
    first = load_config(path)
    assert load_config(path) is first
    assert sorted(first.sources) == ["db0", "db1", "db2"]


def test_a_change_is_read_even_with_the_same_size_and_time(tmp_path: Path):
    path = tmp_path / "config.toml"
    _write(path, _sources(2, "daily 03:00"))
    before = os.stat(path)
    assert load_config(path).sources["db1"].schedule == "daily 03:00"
    _write(path, _sources(2, "daily 04:00"))  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert load_config(path).sources["db1"].schedule == "daily 04:00"


def test_a_broken_file_after_a_good_one_is_an_error(tmp_path: Path):
    path = tmp_path / "config.toml"
    _write(path, _sources(1))
    load_config(path)
    _write(path, _sources(1) + "[sources.db0\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    _write(path, "")
    assert load_config(path).sources == {}
    _write(path, b"\xff" * (2 << 20))  # too big, and not text: never the empty one
    with pytest.raises(ConfigError):
        load_config(path)
    path.unlink()
    assert load_config(path).sources == {}


def test_each_file_has_its_own(tmp_path: Path):
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    _write(one, _sources(1))
    _write(two, _sources(1))
    assert load_config(one).path == one and load_config(two).path == two
    assert load_config(one) is not load_config(two)
