"""Logging survives any message (core/logsetup.py): a line naming a file whose name is
not UTF-8, a call with the wrong arguments, an argument whose text cannot be made: each
is written (escaped, or as it was given), the lines after it too, and none of them is
taken for a log file that cannot be written (that warning stays for a real failure)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeboat.core import log_file as log_file_handler
from lifeboat.core import logsetup
from lifeboat.foundation.paths import LifeboatPaths


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    paths = LifeboatPaths(
        tmp_path / "config.toml",
        tmp_path / "catalog.db",
        tmp_path / "logs",
        tmp_path / "snapshots",
        tmp_path / "tmp",
        tmp_path / "run",
    )
    yield logsetup.configure_logging(paths)
    root = logging.getLogger()
    for handler in logsetup._INSTALLED:
        root.removeHandler(handler)
        handler.close()
    logsetup._INSTALLED.clear()


class _NoText:
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")


def test_any_message_reaches_the_log_file_and_the_lines_after_it(
    log_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    # only Lifeboat's own handlers (pytest's capture raises on a bad line by design)
    monkeypatch.setattr(logging.getLogger(), "handlers", list(logsetup._INSTALLED))
    log = logging.getLogger("lifeboat.test")
    not_utf8 = os.fsdecode(b"/data/caf\xe9.db")  # a real Linux file name
    log.warning("cannot read %s", not_utf8)
    log.warning("two values expected: %s %s", "only one")
    log.warning("an argument without text: %s", _NoText())
    log.warning("the line after them")
    text = log_file.read_text(encoding="utf-8")
    assert "cannot read /data/caf\\udce9.db" in text, text
    assert "two values expected: %s %s" in text and "'only one'" in text, text
    assert "an argument without text" in text and "no text for this one" in text, text
    assert "the line after them" in text
    assert "cannot write the log file" not in capsys.readouterr().err


def test_the_log_file_and_its_rotation_take_lines_that_are_not_utf8(tmp_path: Path):
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o700)
    handler = log_file_handler.PrivateLogFile(folder / "lifeboat.log")
    handler.maxBytes = 300
    name = os.fsdecode(b"caf\xe9.db")
    for n in range(6):
        handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, "%s %d", (name, n), None))
    handler.close()
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))
    assert [f"caf\\udce9.db {n}" in text for n in range(6)] == [True] * 6, text
