"""Start at login: the XDG autostart entry, the LaunchAgent plist, the command line."""

from __future__ import annotations

import plistlib
import shlex
from pathlib import Path

import pytest

from lifeboat.gui.autostart import (
    LoginItem,
    desktop_entry,
    launch_agent_plist,
    launch_command,
)


def test_linux_entry_is_written_and_removed(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    item = LoginItem(platform="linux")
    assert item.path == tmp_path / "config" / "autostart" / "lifeboat.desktop"
    assert not item.is_enabled()
    item.set_enabled(True)
    assert item.is_enabled()
    text = item.path.read_text()
    assert "[Desktop Entry]" in text and "Type=Application" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    words = shlex.split(exec_line.removeprefix("Exec="))
    assert words[:2] == ["env", f"LIFEBOAT_HOME={home}"]
    assert words[2:] == launch_command()
    item.set_enabled(False)
    assert not item.path.exists() and not item.is_enabled()


def test_exec_line_quotes_paths_with_spaces(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.executable", "/opt/My Apps/python3")
    monkeypatch.delenv("LIFEBOAT_HOME", raising=False)
    exec_line = next(line for line in desktop_entry().splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/opt/My Apps/python3" -m lifeboat tray --minimized'


def test_packaged_build_starts_its_own_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    frozen = tmp_path / "lifeboat"
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.setattr("sys.executable", str(frozen))
    assert launch_command() == [str(frozen), "tray", "--minimized"]
    monkeypatch.setattr("sys.platform", "win32")
    console, windowless = tmp_path / "lifeboat.exe", tmp_path / "lifeboatw.exe"
    windowless.touch()
    monkeypatch.setattr("sys.executable", str(console))
    assert launch_command() == [str(windowless), "tray", "--minimized"]


def test_macos_launch_agent(tmp_path: Path, home: Path):
    item = LoginItem(platform="darwin", home=tmp_path)
    item.set_enabled(True)
    assert item.path == tmp_path / "Library" / "LaunchAgents" / "org.lifeboat.tray.plist"
    plist = plistlib.loads(item.path.read_bytes())
    assert plist["ProgramArguments"] == launch_command()
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is False
    assert plist["EnvironmentVariables"] == {"LIFEBOAT_HOME": str(home)}
    assert plistlib.loads(launch_agent_plist())["Label"] == "org.lifeboat.tray"
    item.set_enabled(False)
    assert not item.is_enabled()


def test_a_folder_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    blocker = tmp_path / "config"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    from lifeboat.foundation.errors import LifeboatError

    with pytest.raises(LifeboatError, match="login item"):
        LoginItem(platform="linux").set_enabled(True)
