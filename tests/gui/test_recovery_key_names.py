"""Pure naming rules of the recovery key and restore dialogs (table tests), and the
Settings dialog's Cancel with a typed remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.gui.backup_search import and_list
from lifeboat.gui.recovery_key import key_file_name, with_key_suffix
from lifeboat.gui.restore_pages import free_name


@pytest.mark.parametrize(
    ("chosen", "protected", "saved"),
    [
        ("key.txt", False, "key.txt"),
        ("key.txt", True, "key.age"),
        ("key.age", False, "key.txt"),
        ("key.age", True, "key.age"),
        ("key", True, "key.age"),
        ("my.key", False, "my.key.txt"),
    ],
)
def test_the_key_file_extension_says_what_it_is(chosen: str, protected: bool, saved: str):
    assert with_key_suffix(Path("/x") / chosen, protected=protected) == Path("/x") / saved


def test_the_proposed_key_file_name_is_free_and_fits(tmp_path: Path):
    assert key_file_name(tmp_path, protected=True).name == "lifeboat-recovery-key.age"
    (tmp_path / "lifeboat-recovery-key.txt").write_text("taken")
    assert key_file_name(tmp_path, protected=False).name == "lifeboat-recovery-key-2.txt"


def test_restore_to_a_new_file_proposes_a_free_name(tmp_path: Path):
    assert free_name(tmp_path, "notes-restored", ".db") == tmp_path / "notes-restored.db"
    (tmp_path / "notes-restored.db").write_text("")
    (tmp_path / "notes-restored-2.db").symlink_to(tmp_path / "nowhere")
    assert free_name(tmp_path, "notes-restored", ".db") == tmp_path / "notes-restored-3.db"


@pytest.mark.parametrize(
    ("names", "text"), [(["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c")]
)
def test_names_are_listed_in_words(names: list[str], text: str):
    assert and_list(names) == text
