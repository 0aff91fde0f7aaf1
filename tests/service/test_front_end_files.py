"""Files a front end asks the service to write (tray preferences, what the user was
told): in Lifeboat's own settings folder they keep its rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lifeboat.foundation.errors import LifeboatError
from lifeboat.service import Service


def test_a_file_in_the_settings_folder_keeps_the_folder_private(home: Path):
    service = Service()
    folder = service.workspace.paths.config_file.parent
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    service.write_file(folder / "tray-notices.json", b"{}\n")
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(folder / "tray-notices.json").st_mode & 0o777 == 0o600


def test_a_settings_folder_that_became_a_link_is_refused(home: Path, tmp_path: Path):
    service = Service()
    folder = service.workspace.paths.config_file.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if folder.exists():
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    folder.symlink_to(elsewhere)
    with pytest.raises(LifeboatError):
        service.write_file(folder / "tray-preferences.json", b"{}\n")
    assert list(elsewhere.iterdir()) == []
