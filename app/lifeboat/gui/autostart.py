"""Start at login: an XDG autostart entry (Linux), a LaunchAgent (macOS), a Run key
value (Windows). The login item itself is the setting; nothing else records it.

The command started is this Python running `-m lifeboat tray`, so it works in any
installation (venv, pipx, system), or in a packaged build its own executable running
`tray`; LIFEBOAT_HOME is carried along when it is set
(not on Windows, whose Run key holds a bare command line).
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import subprocess
import sys
from pathlib import Path

from lifeboat.core.private import replace_file, user_dir
from lifeboat.foundation.errors import LifeboatError

ENTRY_NAME = "lifeboat"
LAUNCH_AGENT_LABEL = "org.lifeboat.tray"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Lifeboat"


def launch_command() -> list[str]:
    """The command line that starts the tray."""
    if getattr(sys, "frozen", False):  # a packaged build: sys.executable is lifeboat itself
        return [str(_frozen_tray_executable()), "tray", "--minimized"]
    python = Path(sys.executable)
    if sys.platform == "win32":  # pythonw.exe: no console window at login
        windowless = python.with_name("pythonw.exe")
        python = windowless if windowless.exists() else python
    return [str(python), "-m", "lifeboat", "tray", "--minimized"]


def _frozen_tray_executable() -> Path:
    """On Windows the package has a console lifeboat.exe and a windowless lifeboatw.exe
    (see packaging/lifeboat.spec); login starts the windowless one."""
    executable = Path(sys.executable)
    windowless = executable.with_name("lifeboatw.exe")
    return windowless if sys.platform == "win32" and windowless.exists() else executable


def launch_environment() -> dict[str, str]:
    home = os.environ.get("LIFEBOAT_HOME")
    return {"LIFEBOAT_HOME": home} if home else {}


class LoginItem:
    """Whether Lifeboat starts at login, for the platform it runs on."""

    def __init__(self, platform: str | None = None, home: Path | None = None) -> None:
        self.platform = platform or sys.platform
        self.home = home or Path.home()

    @property
    def path(self) -> Path:
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        config = os.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "autostart" / f"{ENTRY_NAME}.desktop"

    def is_enabled(self) -> bool:
        if self.platform == "win32":
            return _read_run_value() is not None
        return self.path.exists()

    def set_enabled(self, enabled: bool) -> None:
        try:
            if self.platform == "win32":
                _write_run_value(subprocess.list2cmdline(launch_command()) if enabled else None)
            elif enabled:
                user_dir(self.path.parent, "login items folder")
                content = (
                    launch_agent_plist() if self.platform == "darwin" else desktop_entry().encode()
                )
                replace_file(self.path, content)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise LifeboatError(
                f"cannot change the login item {self.path}: {exc.strerror or exc}",
                "check that the folder is writable",
            ) from None


def desktop_entry() -> str:
    """An XDG autostart entry (freedesktop.org Desktop Entry specification)."""
    env = launch_environment()
    command = [*(["env", *(f"{k}={v}" for k, v in env.items())] if env else []), *launch_command()]
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=Lifeboat",
            "Comment=Keeps SQLite databases safe",
            f"Exec={_desktop_exec(command)}",
            "Icon=lifeboat",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "X-GNOME-Autostart-Delay=5",
            "",
        ]
    )


def launch_agent_plist() -> bytes:
    """A per-user LaunchAgent that starts the tray at login (not kept alive after Quit)."""
    plist: dict[str, object] = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": launch_command(),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    if launch_environment():
        plist["EnvironmentVariables"] = launch_environment()
    return plistlib.dumps(plist)


def _desktop_exec(words: list[str]) -> str:
    """Quote an Exec line: words with spaces or specials in double quotes, % doubled."""
    out = []
    for word in words:
        word = word.replace("%", "%%")
        if any(c in word for c in " \t\"'\\><~|&;$*?#()`"):
            word = '"' + "".join("\\" + c if c in '"`$\\' else c for c in word) + '"'
        out.append(word)
    return " ".join(out)


def _read_run_value() -> str | None:
    if sys.platform != "win32":  # also tells the type checker where winreg exists
        raise OSError("the Run key is in the Windows registry")
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            value, _ = winreg.QueryValueEx(key, RUN_VALUE)
            return str(value)
    except FileNotFoundError:
        return None


def _write_run_value(command: str | None) -> None:
    if sys.platform != "win32":
        raise OSError("the Run key is in the Windows registry")
    import winreg

    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
        if command is None:
            with contextlib.suppress(FileNotFoundError):
                winreg.DeleteValue(key, RUN_VALUE)
        else:
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, command)
