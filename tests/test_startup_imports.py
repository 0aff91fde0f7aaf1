"""Start-up: `lifeboat --version`, `status` and `snapshots` load only what they need.

Not a timing test (bench/startup_bench.py times them): this checks the design that makes
them fast. Each command runs as a real process, which then lists the heavy modules it
loaded; the jobs, APScheduler, the compression and encryption libraries, numpy, boto3 and
Qt must not be among them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.cli.main import COMMAND_MODULES, _modules_for, build_parser

HEAVY = (
    "apscheduler",
    "boto3",
    "botocore",
    "PySide6",
    "zstandard",
    "apsw",
    "pyrage",
    "numpy",
    "lifeboat.jobs",
    # the database checker and SQLite's stand-ins: only a check needs them (they were
    # loaded at every start for two names, a manifest key and the check modes)
    "lifeboat.core.dbcheck",
    "lifeboat.core.standins",
    # the log file's handler, made at the first log line (a status logs none)
    "logging.handlers",
    # looking inside points (service/time_machine.py imports them when a method runs)
    # and reading a key file: their modules and records cost a status ~8 ms
    "lifeboat.service.point_browse",
    "lifeboat.service.point_reading",
    "lifeboat.service.row_history",
    "lifeboat.core.age_key_file",
)

#: Runs one command in this process, then writes which heavy modules it loaded.
DRIVER = """
import json, sys
from lifeboat.cli.main import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
heavy = tuple(sys.argv[1].split(","))
loaded = sorted(m for m in sys.modules if m == heavy or m.startswith(heavy))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _loaded_by(home: Path, *args: str) -> tuple[int, list[str], str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, ",".join(HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"], done.stdout


@pytest.fixture
def backed_up(home: Path, db: Path, cli) -> Path:
    """A home with a source (the default daily schedule) and one snapshot."""
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    assert cli("backup", "notes").code == 0
    return home


@pytest.mark.parametrize(
    ("args", "shows"),
    [
        (["--version"], "lifeboat "),
        (["status"], "notes"),
        (["status", "--json"], '"next_run"'),
        (["snapshots"], "notes"),
        (["snapshots", "notes", "--json"], '"id"'),
    ],
)
def test_light_commands_load_no_heavy_module(backed_up: Path, args: list[str], shows: str):
    code, loaded, out = _loaded_by(backed_up, *args)
    assert code in (0, None), out
    assert shows in out
    assert loaded == [], f"`lifeboat {' '.join(args)}` loaded {loaded}"


def test_a_command_that_needs_them_still_loads_them(backed_up: Path):
    # the check above can fail: verifying a snapshot does load the jobs and zstandard
    code, loaded, _ = _loaded_by(backed_up, "verify", "--all")
    assert code == 0
    assert "lifeboat.jobs" in loaded and "zstandard" in loaded


def _registered(modules: list[str]) -> set[str]:
    parser = build_parser([])  # every module, as --help shows them
    if modules != list(COMMAND_MODULES):
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers(dest="command")
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--json", action="store_true")
        for name in modules:
            __import__(f"lifeboat.cli.{name}", fromlist=["register"]).register(commands, common)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_the_command_table_names_each_module_s_commands():
    everything = set()
    for module, commands in COMMAND_MODULES.items():
        assert _registered([module]) == set(commands), module
        everything |= set(commands)
    assert _registered(list(COMMAND_MODULES)) == everything


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["--version"], []),
        (["status", "--json"], ["commands_daemon"]),
        (["snapshots", "notes"], ["commands_snapshots"]),
        (["source", "add", "x.db"], ["commands_sources"]),
        (["--help"], list(COMMAND_MODULES)),
        (["--version", "--help"], list(COMMAND_MODULES)),
        ([], list(COMMAND_MODULES)),  # the tray, or the help
        (["no-such-command"], list(COMMAND_MODULES)),  # argparse lists the choices
    ],
)
def test_which_modules_a_command_line_needs(argv: list[str], modules: list[str]):
    assert _modules_for(argv) == modules


def test_an_unknown_command_is_still_a_one_line_error(home: Path):
    done = subprocess.run(
        [sys.executable, "-m", "lifeboat", "no-such-command"],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "status" in done.stderr
    assert "Traceback" not in done.stderr


def test_snapshots_of_an_unknown_source_is_a_one_line_error(home: Path, cli):
    done = cli("snapshots", "nope")
    assert done.code == 2 and "no source named 'nope'" in done.err
    assert "Traceback" not in done.err
