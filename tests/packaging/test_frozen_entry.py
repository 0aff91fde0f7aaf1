"""The frozen entry point (packaging/lifeboat_main.py) runs the CLI; a windowless Windows
executable, started with no standard streams, still can."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "packaging" / "lifeboat_main.py"


def test_runs_the_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    from lifeboat import __version__

    monkeypatch.setattr("sys.argv", ["lifeboat", "--version"])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ENTRY), run_name="__main__")
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"lifeboat {__version__}\n"


def test_missing_streams_go_to_the_null_device(monkeypatch: pytest.MonkeyPatch):
    entry = runpy.run_path(str(ENTRY))
    monkeypatch.setattr("sys.stdout", None)
    monkeypatch.setattr("sys.stderr", None)
    entry["give_streams_to_windowless_exe"]()
    try:
        print("nowhere")
        sys.stderr.write("nowhere\n")
    finally:
        sys.stdout.close()
        sys.stderr.close()
