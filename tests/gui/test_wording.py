"""The service's command-line advice, said in the GUI's words (gui/wording.py)."""

from __future__ import annotations

import pytest

from lifeboat.gui.wording import in_gui_words, names_a_command


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("create one: lifeboat key init", "create one in Settings → Remote"),
        (
            "there is no encryption key yet: run `lifeboat key init` first",
            "there is no encryption key yet: create a recovery key first (Settings → Remote)",
        ),
        (
            "import your recovery key: lifeboat key import FILE",
            "import your recovery key: “Import a key…” in Settings → Remote",
        ),
        (
            "retry; if it repeats, run `lifeboat catalog rebuild`",
            "retry; if it repeats, use “Look for backups…” in Settings → Remote",
        ),
        ("see `lifeboat jobs`", "see History → Jobs"),
        (
            "stop it first, or use it: `lifeboat status` shows its work",
            "stop it first, or use it: the main window shows its work",
        ),
        ("fix the remote's settings, or use --credentials env", "fix the remote's settings"),
        ("choose another name with --name", ""),
        ("see `lifeboat source set --help`", ""),
        (
            "restore it to a new file with --to PATH; or look at it first",
            "look at it first",
        ),
        ("the disk is full", "the disk is full"),
        ("", ""),
    ],
)
def test_command_line_advice_in_the_gui_s_words(said: str, shown: str):
    assert in_gui_words(said) == shown
    assert not names_a_command(in_gui_words(said))
