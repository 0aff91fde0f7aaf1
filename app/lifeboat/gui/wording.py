"""What the service says for the command line, in the GUI's words.

Errors and hints are written once, in the service, for both front ends; their advice
often names a command (`lifeboat catalog rebuild`) or a flag (--credentials env). The GUI
says where the same action is in its own windows, and drops advice that exists only on
the command line. A plain function on text, with table tests.
"""

from __future__ import annotations

import re

_REMOTE_TAB = "Settings → Remote"

#: (pattern, the GUI's words), tried in order; a command's arguments go with it.
_COMMANDS: tuple[tuple[str, str], ...] = (
    (r"run `lifeboat key init` first", f"create a recovery key first ({_REMOTE_TAB})"),
    (r"(create one(?: first)?): `?lifeboat key init`?", rf"\1 in {_REMOTE_TAB}"),
    (r"`?lifeboat key init`?", f"a recovery key ({_REMOTE_TAB})"),
    (r"\(`?lifeboat key import FILE`?\)", f"(“Import a key…” in {_REMOTE_TAB})"),
    (r"`?lifeboat key import FILE`?", f"“Import a key…” in {_REMOTE_TAB}"),
    (r"`?lifeboat key export`?", f"“Save a copy…” in {_REMOTE_TAB}"),
    (r"run `lifeboat catalog rebuild`", f"use “Look for backups…” in {_REMOTE_TAB}"),
    (r"`lifeboat catalog rebuild`", f"“Look for backups…” in {_REMOTE_TAB}"),
    (r"`lifeboat status` shows its work", "the main window shows its work"),
    (r"see `lifeboat jobs`", "see History → Jobs"),
    (r"see `lifeboat snapshots`", "see History"),
    (r"see `lifeboat remote list`", f"see {_REMOTE_TAB}"),
    (r"see `lifeboat source list`", "see the main window"),
    (r"`?lifeboat remote test [\w.-]+`?", f"“Test” in {_REMOTE_TAB}"),
    (r"`?lifeboat diff ID`?", "the preview in the Restore window"),
    (r"`?lifeboat upload [\w.-]+`?", "“Upload now”"),
    (r"`?lifeboat backup [\w.-]+`?", "“Back up now”"),
    (r"`lifeboat run`", "the Lifeboat service"),
)
#: What is left naming a command or a flag: such a clause is command-line only.
_CLI = re.compile(r"`[^`]*`|\blifeboat [a-z]+\b|(?<![\w-])--[a-z][\w-]*")
#: Where one piece of advice ends and another begins.
_CLAUSES = re.compile(r"(; |, or |\. (?=[A-Z]))")


def in_gui_words(text: str) -> str:
    """`text` with every command it names said as the GUI's action, and every clause that
    only makes sense on the command line left out ('' if nothing is left)."""
    if not text:
        return text
    for pattern, words in _COMMANDS:
        text = re.sub(pattern, words, text)
    if not _CLI.search(text):
        return text
    pieces = _CLAUSES.split(text)
    kept: list[str] = []
    for index in range(0, len(pieces), 2):
        clause = pieces[index]
        if _CLI.search(clause):
            continue
        if kept:
            kept.append(pieces[index - 1])
        kept.append(clause)
    result = re.sub(r"^(?:or|and) ", "", "".join(kept).strip().rstrip(":,;").strip())
    return result[:1].upper() + result[1:] if text[:1].isupper() else result


def names_a_command(text: str) -> bool:
    """Whether `text` still names a command-line command or flag (for tests and checks)."""
    return _CLI.search(text) is not None
