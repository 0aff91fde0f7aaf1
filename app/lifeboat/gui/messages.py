"""Message boxes: errors as the user should see them, and questions.

A LifeboatError shows its message and its hint. Anything else is a bug: it was logged
with its traceback where it happened; the user sees one line and the log file's path.
Boxes are opened without blocking (no nested event loop), so the tray keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget
from shiboken6 import isValid

from lifeboat.core.private import disk_full_error
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.paths import resolve_paths
from lifeboat.gui.steady import widen
from lifeboat.gui.wording import in_gui_words

log = logging.getLogger(__name__)

#: The boxes open now: one without a parent window must be kept alive while it is open,
#: and what is open is read here (open_boxes), never by walking all of Qt's windows and
#: their children, which wraps every widget earlier windows left behind.
_open_boxes: set[QMessageBox] = set()


def open_boxes() -> list[QMessageBox]:
    """The message boxes Lifeboat has open now."""
    for box in [b for b in _open_boxes if not isValid(b)]:  # its parent window was deleted
        _open_boxes.discard(box)
    return [b for b in _open_boxes if b.isVisible()]


def error_lines(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for any exception, never a traceback; as sentences in
    the GUI's words (gui/wording.py: no commands or flags)."""
    exc = as_user_error(exc)
    if isinstance(exc, LifeboatError):
        return sentence(in_gui_words(exc.message)), sentence(in_gui_words(exc.hint or ""))
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"Unexpected error: {type(exc).__name__}{': ' + first if first else ''}",
        f"Details are in the log file: {resolve_paths().log_file}",
    )


def as_user_error(exc: BaseException) -> BaseException:
    """A full disk met anywhere is said as such, not as an unexpected error."""
    return disk_full_error(exc) or exc


def sentence(text: str) -> str:
    """'cannot read x: y' -> 'Cannot read x: y.' (CLI messages read as lines, boxes as
    sentences)."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?)" else text + "."


def show_error(
    parent: QWidget | None, exc: BaseException, *, title: str = "Lifeboat"
) -> QMessageBox:
    message, hint = error_lines(exc)
    box = _box(
        parent,
        QMessageBox.Icon.Warning
        if isinstance(as_user_error(exc), LifeboatError)
        else QMessageBox.Icon.Critical,
        title,
        message,
        hint,
    )
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    open_box(box)
    return box


def show_info(parent: QWidget | None, title: str, text: str, detail: str = "") -> QMessageBox:
    box = _box(parent, QMessageBox.Icon.Information, title, text, detail)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    open_box(box)
    return box


def ask(
    parent: QWidget | None,
    title: str,
    text: str,
    detail: str,
    yes: str,
    on_yes: Callable[[], None],
    *,
    no: str = "Cancel",
    danger: bool = False,
    on_no: Callable[[], None] | None = None,
) -> QMessageBox:
    """Ask a question; call `on_yes` if the user agrees (else `on_no`). Returns the
    (open) box."""
    box = _box(
        parent,
        QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question,
        title,
        text,
        detail,
    )
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    no_button = box.addButton(no, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no_button if danger else yes_button)
    box.setEscapeButton(no_button)

    def answered() -> None:
        if box.clickedButton() is yes_button:
            on_yes()
        elif on_no is not None:
            on_no()

    box.finished.connect(answered)
    open_box(box)
    return box


def _box(
    parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str, detail: str
) -> QMessageBox:
    box = QMessageBox(icon, title, text, parent=parent)
    box.setObjectName("lifeboat-message")
    if detail:
        box.setInformativeText(detail)
    return widen(box)


def open_box(box: QMessageBox) -> None:
    """Open `box` without blocking, kept until it is answered."""
    _open_boxes.add(box)
    box.finished.connect(lambda _=0: _open_boxes.discard(box))
    box.open()
