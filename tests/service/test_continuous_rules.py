"""Continuous protection's rules and words: what each journal mode gets, the status line, the
problem a failing capture is (table tests, plain data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.config import parse_config, source_problems
from lifeboat.core.config_model import SourceConfig
from lifeboat.foundation.errors import ConfigError
from lifeboat.foundation.states import Health
from lifeboat.service.history_status import ContinuousState, ago_text, continuous_line
from lifeboat.service.problems import problem_of
from tests.helpers.databases import make_db
from tests.service.test_problems import status

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_switching_continuous_on_says_which_kind_each_journal_mode_gets(cli, tmp_path: Path):
    rollback = make_db(tmp_path / "journal.db", rows=5, wal=False)
    result = cli("source", "add", str(rollback), "--continuous")
    assert result.code == 0, result.err
    assert "not in WAL mode (rollback journal): a differential snapshot" in result.out
    assert "at most every 1 minute" in result.out
    result = cli("source", "set", "journal", "--continuous-every", "30s")
    assert result.code == 0 and "at most every 30 seconds" in result.out
    for bad, said in [("0s", "from 1 second to 1 day"), ("soon", "is not a length of time")]:
        refused = cli("source", "set", "journal", "--continuous-every", bad)
        assert refused.code == 2 and said in refused.err and "Traceback" not in refused.err
        assert len(refused.err.strip().splitlines()) <= 2  # the error and its hint
    wal = make_db(tmp_path / "wal.db", rows=5)
    result = cli("source", "add", str(wal), "--continuous")
    assert result.code == 0 and "every commit, from its WAL" in result.out
    assert cli("source", "set", "wal", "--continuous-keep", "1h all, 2d daily").code == 0
    bad = cli("source", "set", "wal", "--continuous-keep", "2d daily, 1h all")
    assert bad.code == 2 and "youngest to oldest" in bad.err


def test_a_source_kept_encrypted_is_followed_its_history_sealed(tmp_path: Path):
    src = SourceConfig(
        name="notes", path=tmp_path / "notes.db", continuous=True, encrypt_local=True
    )
    assert source_problems(src, sources={}, remotes=(), recipients=["age1x"]) == []
    keyless = source_problems(src, sources={}, remotes=(), recipients=[])
    assert [key for key, _ in keyless] == ["encrypt_local"]  # sealing needs a key
    plain = SourceConfig(name="notes", path=tmp_path / "notes.db", continuous=True)
    assert source_problems(plain, sources={}, remotes=(), recipients=[]) == []


def test_loading_does_not_look_at_the_file_and_specs_are_checked():
    src = SourceConfig("n", Path("/nowhere.db"), continuous=True)
    assert source_problems(src, sources={}, remotes=[], recipients=[]) == []
    data = {"sources": {"n": {"path": "/x.db", "continuous": True, "continuous_keep": "7d"}}}
    with pytest.raises(ConfigError, match="continuous_keep"):
        parse_config(data, Path("/c.toml"))
    data = {"sources": {"n": {"path": "/x.db", "continuous": True, "continuous_every": "2d"}}}
    with pytest.raises(ConfigError, match="continuous_every"):
        parse_config(data, Path("/c.toml"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s ago"), (2.9, "2 s ago"), (75, "1 min ago"), (7300, "2 h ago"), (90000, "1 day ago")],
)
def test_ago_text(seconds: float, text: str):
    assert ago_text(seconds) == text


@pytest.mark.parametrize(
    ("state", "running", "line"),
    [
        (ContinuousState(False), True, None),
        (ContinuousState(True), True, "protected continuously, starting (nothing captured yet)"),
        (
            ContinuousState(True, NOW - timedelta(seconds=2)),
            True,
            "protected continuously, last change captured 2 s ago",
        ),
        (
            ContinuousState(True, NOW - timedelta(hours=3)),
            False,
            "continuous protection paused: Lifeboat is not running; last change captured 3 h ago",
        ),
        (
            ContinuousState(True, NOW - timedelta(seconds=20), every_s=60),
            True,
            "protected every minute, last change captured 20 s ago",
        ),
        (
            ContinuousState(True, NOW - timedelta(seconds=3), every_s=30),
            True,
            "protected every 30 seconds, last change captured 3 s ago",
        ),
        (
            ContinuousState(True, NOW, stopped="the disk is full"),
            True,
            "continuous capture stopped: the disk is full",
        ),
    ],
)
def test_continuous_line(state: ContinuousState, running: bool, line: str | None):
    assert continuous_line(state, NOW, lifeboat_running=running) == line


def test_a_capture_that_keeps_failing_is_a_problem_and_only_while_continuous():
    stopped = status(continuous=True, capture_stopped="database is locked.")
    problem = problem_of(stopped, NOW)
    assert problem is not None and problem.kind is Health.CAPTURE_STOPPED
    assert problem.reason == "Continuous capture of crm stopped: database is locked"
    assert stopped.state == "warning"
    assert problem_of(status(continuous=False, capture_stopped="x"), NOW) is None
    assert problem_of(status(continuous=True, gaps=3, merged=5), NOW) is None, "gaps: no problem"
