"""The GUI speaks its own language (no commands, flags or internal words in anything it
shows) and its layouts stay put (progress and failure texts whole, questions readable)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QLabel,
    QMenu,
    QMessageBox,
    QTreeWidget,
    QWidget,
    QWizard,
)

from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.app import TrayApp
from lifeboat.gui.messages import ask, error_lines, show_error
from lifeboat.gui.steady import MIN_BOX_WIDTH
from lifeboat.service import Service
from tests.gui.conftest import close_message_boxes

#: Words the GUI never shows: commands, flags, and the names the code uses inside.
FORBIDDEN = [
    (r"(?<![\w-])--[a-z][\w-]*", "a command-line flag"),
    (r"\blifeboat [a-z]+", "a command"),
    (r"`", "a command in backticks"),
    (r"\bprun(e|ed|ing)\b", "'prune'"),
    (r"after-backup", "'after-backup'"),
    (r"\bBase\b", "'Base'"),
    (r"\bRatio\b", "'Ratio'"),
    (r"compare…", "'compare…'"),
    (r"\b\d+[smhd]\b", "an abbreviated duration ('2d')"),
    (r"\bpid\b", "'pid'"),
    (r"\.\.(?!\.)", "a doubled full stop"),
    (r"\bEvery 1 \w+s\b", "'Every 1 hours'"),
    (r"\b1 (hours|days|minutes|snapshots|rows|databases)\b", "a wrong plural"),
    (r"added since in\b", "'added since in'"),
]

#: Errors as the service raises them, with the command-line advice they carry.
SERVICE_ERRORS = [
    LifeboatError("source notes keeps its snapshots encrypted", "create one: lifeboat key init"),
    LifeboatError("there is no encryption key yet: run `lifeboat key init` first"),
    LifeboatError(
        "no key opens this snapshot", "import your recovery key: lifeboat key import FILE"
    ),
    LifeboatError("the catalog is damaged", "retry; if it repeats, run `lifeboat catalog rebuild`"),
    LifeboatError("no remote named 'x'", "see `lifeboat remote list`"),
    LifeboatError("no job 7", "see `lifeboat jobs`"),
    LifeboatError("a scheduler runs", "stop it first, or use it: `lifeboat status` shows its work"),
    LifeboatError("no credentials for offsite", "store them again (or use --credentials env)"),
    LifeboatError("/tmp/x.db exists", "choose another path, or add --yes to replace it"),
    LifeboatError(
        "the key exists", "export it with `lifeboat key export`; a second one is not needed"
    ),
    LifeboatError("bad schedule", "see `lifeboat source set --help`"),
    LifeboatError("no bucket", "create the bucket, or fix the bucket name: lifeboat remote set x"),
]


def offences(text: str) -> list[str]:
    return [why for pattern, why in FORBIDDEN if re.search(pattern, text)]


def texts_of(widget: QWidget) -> list[str]:
    """Every text a user can read in `widget` and its children: labels, buttons, list
    cells and headers, tooltips, window titles, menus."""
    found = [widget.windowTitle(), widget.toolTip()]
    for label in widget.findChildren(QLabel):
        found += [label.text(), label.toolTip()]
    for button in widget.findChildren(QAbstractButton):
        found += [button.text(), button.toolTip()]
    for tree in widget.findChildren(QTreeWidget):
        header = tree.headerItem()
        found += [header.text(c) for c in range(header.columnCount())]
        for row in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(row)
            for column in range(item.columnCount()):
                found += [item.text(column), item.toolTip(column)]
    for menu in widget.findChildren(QMenu):
        found += menu_texts(menu)
    if isinstance(widget, QWizard):
        for page_id in widget.pageIds():
            page = widget.page(page_id)
            found += [page.title(), page.subTitle()]
    return [t for t in found if t]


def menu_texts(menu: QMenu) -> list[str]:
    found = [menu.title()]
    for action in menu.actions():
        found += [action.text(), action.toolTip()]
        if action.menu() is not None:
            found += menu_texts(action.menu())
    return [t for t in found if t]


@pytest.fixture
def lived_in(service: Service, two_sources: tuple[Path, Path]) -> Service:
    """Two databases, one backed up twice (unchanged the second time), one failing."""
    service.backup("notes")
    service.run_backup("notes")
    two_sources[1].unlink()
    with pytest.raises(LifeboatError):
        service.backup("crm")
    return service


def test_no_window_shows_a_command_a_flag_or_an_internal_word(qtbot, make_tray, lived_in: Service):
    tray_app: TrayApp = make_tray(show_window=True)
    qtbot.waitUntil(lambda: tray_app.window.sources.topLevelItemCount() == 2, timeout=10_000)
    tray_app.show_restore(None)
    wizard = tray_app._dialogs["restore"]
    shown = {
        "main window": texts_of(tray_app.window),
        "tray menu": menu_texts(tray_app.tray.menu) if tray_app.tray else [],
        "restore wizard": texts_of(wizard),
        "tray tooltip": [tray_app.status.tooltip()],
        "errors": [line for exc in SERVICE_ERRORS for line in error_lines(exc)],
    }
    assert shown["main window"] and shown["restore wizard"] and shown["errors"]
    bad = [
        f"{where}: {text!r} has {why}"
        for where, texts in shown.items()
        for text in texts
        for why in offences(text)
    ]
    assert not bad, "\n".join(bad)
    cell = tray_app.window.sources.topLevelItem(0).text(1)
    assert "nothing changed" in cell and "backed up" in cell


def test_a_long_failure_reason_is_shown_whole_and_nothing_moves(qtbot, make_tray, lived_in):
    tray_app: TrayApp = make_tray(show_window=True)
    window = tray_app.window
    window.resize(720, 480)
    qtbot.waitUntil(lambda: window.sources.topLevelItemCount() == 2, timeout=10_000)
    tree = window.sources

    def row(name: str):
        return next(
            tree.topLevelItem(i)
            for i in range(tree.topLevelItemCount())
            if tree.topLevelItem(i).text(0) == name
        )

    def height(name: str) -> int:
        return tree.visualItemRect(row(name)).height()

    reason = row("crm").text(1)
    assert reason.startswith("Backup failed")
    width = tree.fontMetrics().horizontalAdvance(reason)
    assert width > tree.columnWidth(1), "the reason is longer than its cell: else no proof"
    flags = Qt.TextFlag.TextWordWrap

    def shown_whole() -> bool:
        room = QRect(0, 0, tree.columnWidth(1) - 12, 100_000)
        needed = tree.fontMetrics().boundingRect(room, flags, row("crm").text(1)).height()
        return needed > tree.fontMetrics().lineSpacing() and height("crm") >= needed

    qtbot.waitUntil(shown_whole, timeout=5_000)
    before = {name: window.button(name).geometry() for name in ("backup-all", "history")}
    window.progress_row.show()
    window.progress_text.setText("Verifying notes: checking the snapshot… " * 3)
    qtbot.wait(50)
    assert {name: window.button(name).geometry() for name in before} == before
    assert window.progress_text.height() >= 2 * window.progress_text.fontMetrics().lineSpacing()


def test_a_question_and_an_error_box_are_wide_enough_to_read(qtbot):
    question = ask(None, "Delete?", "Delete the snapshot?", "", "Delete", lambda: None)
    error = show_error(None, LifeboatError("x", "y"))
    try:
        for box in (question, error):
            qtbot.waitUntil(box.isVisible, timeout=5_000)
            assert box.width() >= MIN_BOX_WIDTH
    finally:
        close_message_boxes()


def test_the_restore_progress_text_reserves_two_lines(qtbot, make_tray, lived_in):
    tray_app: TrayApp = make_tray()
    tray_app.show_restore("notes")
    wizard = tray_app._dialogs["restore"]
    page = wizard.progress_page
    page.resize(480, 300)
    page.show()
    bar_before = page.bar.geometry()
    height_before = page.phase.height()
    page.phase.setText("Checking the snapshot of notes taken on Mon 24 Nov 2026 03:00… " * 2)
    qtbot.wait(50)
    assert page.phase.height() >= 2 * page.phase.fontMetrics().lineSpacing()
    assert page.bar.geometry() == bar_before and page.phase.height() == height_before


def test_every_box_the_gui_opens_is_a_message_box_with_a_minimum_width(qtbot):
    box = show_error(None, LifeboatError("the disk holding /tmp is full", "free some space"))
    try:
        qtbot.waitUntil(box.isVisible, timeout=5_000)
        assert isinstance(box, QMessageBox) and box.width() >= MIN_BOX_WIDTH
        assert box.text() == "The disk holding /tmp is full."
    finally:
        close_message_boxes()
