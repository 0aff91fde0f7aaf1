"""The Browse window on real databases and real snapshots taken through the service:
opened from History, the main window and the restore wizard (a snapshot and a moment
of the continuous history); the tables and their row counts; rows paged lazily; a
search; a row compared with live; a row's history; bringing back exactly the rows
deleted, with a safety snapshot that restores the database as it was; refusals and
errors in words."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QTreeWidget

from lifeboat.gui.app import TrayApp
from lifeboat.gui.browse_bring_back import BringBackDialog
from lifeboat.gui.browse_models import LOADING, MAX_PAGES, PAGE_ROWS
from lifeboat.gui.browse_points import PointWanted
from lifeboat.gui.browse_window import BrowseWindow
from lifeboat.gui.restore_pages import MOMENT_TAB
from lifeboat.gui.restore_wizard import SNAPSHOT, RestoreWizard
from lifeboat.service import Service
from tests.gui.test_history_dialog import open_history
from tests.helpers.databases import make_db
from tests.helpers.followed import follow_with_gap

NAME = "notes"


@pytest.fixture
def notes(service: Service, tmp_path: Path) -> Path:
    """notes.db: `items` (300 rows) and `tags` (7 rows), backed up by hand."""
    db = make_db(tmp_path / "notes.db", rows=300)
    with sqlite3.connect(db) as conn:
        conn.execute("create table tags(tag text primary key, uses integer) without rowid")
        conn.executemany("insert into tags values (?, ?)", [(f"tag{i}", i) for i in range(7)])
    conn.close()
    service.add_source(db, name=NAME, schedule="manual")
    return db


def content(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Each table's rows (by their first column) and the schema."""
    conn = sqlite3.connect(db)
    try:
        schema = conn.execute("select type, name, sql from sqlite_master order by name").fetchall()
        found: dict[str, list[tuple[object, ...]]] = {"__schema__": schema}
        for (table,) in conn.execute("select name from sqlite_master where type = 'table'"):
            found[table] = conn.execute(f'select * from "{table}" order by 1').fetchall()
        return found
    finally:
        conn.close()


def change(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


def browse_window(qtbot, tray_app: TrayApp, source: str = NAME) -> BrowseWindow:
    qtbot.waitUntil(lambda: f"browse:{source}" in tray_app._dialogs._open, timeout=10_000)
    window = tray_app._dialogs[f"browse:{source}"]
    assert isinstance(window, BrowseWindow)
    qtbot.waitUntil(lambda: window.tables.topLevelItemCount() > 0, timeout=30_000)
    qtbot.waitUntil(lambda: window.rows.rowCount() > 0, timeout=30_000)
    return window


def counts(window: BrowseWindow) -> dict[str, str]:
    items = [window.tables.topLevelItem(i) for i in range(window.tables.topLevelItemCount())]
    return {item.text(0): item.text(1) for item in items if item is not None}


def cell(window: BrowseWindow, row: int, column: int) -> str:
    return str(window.rows.index(row, column).data())


def select_rows(qtbot, window: BrowseWindow, rows: list[int]) -> None:
    selection = window.view.selectionModel()
    selection.clearSelection()
    for row in rows:
        qtbot.waitUntil(lambda r=row: cell(window, r, 0) != LOADING, timeout=15_000)
        selection.select(
            window.rows.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


def opened(qtbot, name: str) -> QDialog:
    found: list[QDialog] = []

    def shown() -> bool:
        found[:] = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QDialog) and w.objectName() == name and w.isVisible()
        ]
        return bool(found)

    try:
        qtbot.waitUntil(shown, timeout=30_000)
    except Exception:
        # What the browse windows said instead (a failure is shown there, not raised).
        said = [
            w.message.text() for w in QApplication.topLevelWidgets() if isinstance(w, BrowseWindow)
        ]
        raise AssertionError(f"no {name} opened; the browse windows said {said}") from None
    return found[-1]


def tree_rows(dialog: QDialog, name: str) -> list[list[str]]:
    tree = dialog.findChild(QTreeWidget, name)
    assert tree is not None
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]  # type: ignore[union-attr]
        for i in range(tree.topLevelItemCount())
    ]


def test_from_history_the_tables_their_counts_and_the_rows(
    qtbot, make_tray, service: Service, notes: Path
):
    record = service.backup(NAME)
    change(notes, "delete from items where id > 100")  # live differs: the snapshot is shown
    tray_app = make_tray()
    dialog = open_history(qtbot, tray_app)
    assert dialog.select_snapshot(record.id)
    tab = dialog.snapshots_tab
    assert tab.browse_button.isEnabled()
    tab.browse_button.click()
    window = browse_window(qtbot, tray_app)
    qtbot.waitUntil(lambda: counts(window) == {"items": "300", "tags": "7"}, timeout=30_000)
    assert f"snapshot {record.id}" in window.shown.text()
    assert window.table_name() == "items"
    qtbot.waitUntil(
        lambda: window.rows.rowCount() == 300 and cell(window, 0, 1) != LOADING, timeout=15_000
    )
    assert [cell(window, 0, c) for c in range(2)] == ["1", "item-0-0"]
    assert cell(window, 0, 2).endswith("bytes>"), "a blob is shown by its size"
    assert window.select_table("tags")
    qtbot.waitUntil(lambda: window.rows.rowCount() == 7 and cell(window, 6, 0) != LOADING)
    assert [cell(window, r, 0) for r in range(7)] == [f"tag{i}" for i in range(7)]
    window.close()


def test_rows_are_read_a_page_at_a_time(qtbot, make_tray, service: Service, tmp_path: Path):
    db = make_db(tmp_path / "big.db", rows=6000, payload=40)
    service.add_source(db, name="big", schedule="manual")
    service.backup("big")
    tray_app = make_tray()
    tray_app.show_browse(PointWanted("big"))
    window = browse_window(qtbot, tray_app, "big")
    qtbot.waitUntil(lambda: window.rows.rowCount() == 6000, timeout=30_000)
    browser = window.browser
    assert browser is not None
    assert browser.rows_read <= 2 * PAGE_ROWS, "opening reads the first page, not the table"
    window.view.scrollToBottom()
    qtbot.waitUntil(lambda: cell(window, 5999, 1) == "item-0-5999", timeout=30_000)
    assert browser.rows_read < 6000 / 2, "the rows in between were never read"
    assert window.rows.rows_held <= MAX_PAGES * PAGE_ROWS
    window.close()


def test_search_finds_a_row(qtbot, make_tray, service: Service, notes: Path):
    service.backup(NAME)
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME))
    window = browse_window(qtbot, tray_app)
    window.search.setText("ITEM-0-123")  # any case
    qtbot.waitUntil(lambda: window.found.text() == "1 row found", timeout=15_000)
    assert window.rows.rowCount() == 1
    qtbot.waitUntil(lambda: cell(window, 0, 1) == "item-0-123", timeout=15_000)
    window.search.setText("no such text")
    qtbot.waitUntil(lambda: window.found.text() == "0 rows found", timeout=15_000)
    window.close()


def headline(dialog: QDialog, name: str) -> str:
    label = dialog.findChild(QLabel, name)
    assert label is not None
    return label.text()


def test_compare_with_live_marks_the_changed_column_and_a_deleted_row(
    qtbot, make_tray, service: Service, notes: Path
):
    service.backup(NAME)
    change(
        notes, "update items set name = 'renamed' where id = 5", "delete from items where id = 3"
    )
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME))
    window = browse_window(qtbot, tray_app)
    select_rows(qtbot, window, [4])  # id 5
    window.compare_button.click()
    dialog = opened(qtbot, "browse-compare-dialog")
    rows = tree_rows(dialog, "compare-columns")
    assert [r[0] for r in rows if r[3] == "changed"] == ["name"]
    assert ["name", "item-0-4", "renamed", "changed"] in rows
    assert "1 column changed since" in headline(dialog, "compare-headline")
    dialog.close()
    qtbot.waitUntil(lambda: not window.dialogs, timeout=10_000)
    select_rows(qtbot, window, [2])  # id 3, deleted since
    window.compare_button.click()
    deleted = opened(qtbot, "browse-compare-dialog")
    assert "This row is not in the live database" in headline(deleted, "compare-headline")
    window.close()


def test_from_the_main_window_row_history_lists_every_version(
    qtbot, make_tray, service: Service, notes: Path
):
    first = service.backup(NAME)
    change(notes, "update items set name = 'renamed', payload = null where id = 5")
    service.backup(NAME)
    change(notes, "delete from items where id = 5")
    service.backup(NAME)
    tray_app = make_tray(show_window=True)
    main = tray_app.window
    main._source_menu(main.sources.visualItemRect(main.sources.topLevelItem(0)).center())
    browse = [a for a in main.source_menu.actions() if a.text() == "Browse…"]
    assert browse, "the source's menu has Browse…"
    browse[0].trigger()
    window = browse_window(qtbot, tray_app)
    assert "snapshot" in window.shown.text()
    qtbot.waitUntil(lambda: counts(window).get("items") == "299", timeout=30_000)
    # The first snapshot, picked at the top: the row is still there in it.
    points = window.picker.points
    qtbot.waitUntil(lambda: points.count() == 4, timeout=15_000)  # the newest and 3
    assert window.picker.pick_snapshot(first.id)
    qtbot.waitUntil(lambda: first.id in window.shown.text(), timeout=15_000)
    qtbot.waitUntil(lambda: counts(window).get("items") == "300", timeout=30_000)
    # The rows shown are the first snapshot's (id 5 is gone from the newest) before one
    # is selected: a selection made in the newest's rows is cleared when they reload.
    qtbot.waitUntil(lambda: cell(window, 4, 0) == "5", timeout=30_000)
    select_rows(qtbot, window, [4])
    qtbot.waitUntil(window.history_button.isEnabled, timeout=15_000)
    window.history_button.click()
    dialog = opened(qtbot, "browse-history-dialog")
    versions = tree_rows(dialog, "history-versions")
    assert [v[1] for v in versions] == ["there", "changed", "deleted"]
    assert versions[0][2] == f"snapshot {first.id}"
    assert "name: item-0-4 → renamed" in versions[1][3]
    assert "payload:" in versions[1][3] and "→ NULL" in versions[1][3]
    assert "3 versions across 3 backup points of notes" in headline(dialog, "history-headline")
    window.close()


def select_ids(qtbot, window: BrowseWindow, ids: list[int]) -> None:
    select_rows(qtbot, window, [i - 1 for i in ids])  # the snapshot's rows, in id order


def bring_back_dialog(qtbot, window: BrowseWindow) -> BringBackDialog:
    window.bring_back_button.click()
    dialog = opened(qtbot, "bring-back-dialog")
    assert isinstance(dialog, BringBackDialog)
    return dialog


def test_bring_back_restores_exactly_the_rows_deleted_and_keeps_a_safety_snapshot(
    qtbot, make_tray, service: Service, notes: Path, tmp_path: Path
):
    record = service.backup(NAME)
    was = content(notes)
    change(
        notes,
        "delete from items where id between 10 and 14",
        "delete from items where id = 40",  # deleted too, but not selected: stays deleted
        "update items set name = 'edited' where id = 11",  # gone anyway
        "update items set name = 'edited' where id = 20",
        "insert into items(name) values ('added since')",
    )
    before = content(notes)
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME, snapshot=record.id))
    window = browse_window(qtbot, tray_app)
    select_ids(qtbot, window, [10, 11, 12, 13, 14, 20])
    assert window.bring_back_button.text() == "&Bring these back…"
    dialog = bring_back_dialog(qtbot, window)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    text = dialog.counts.text()
    assert "5 rows come back (deleted since)." in text
    assert "0 rows are put back to their old values." in text
    assert "1 row changed since is kept as it is now." in text
    assert f"protected safety snapshot of {NAME}" in dialog.safety.text()
    dialog.show_rows.setChecked(True)
    qtbot.waitUntil(
        lambda: dialog.plan is not None and dialog.rows.topLevelItemCount() == 6, timeout=30_000
    )
    assert dialog.confirm.isEnabled()
    dialog.confirm.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    outcome = dialog.outcome
    assert outcome is not None and outcome.inserted == 5 and outcome.updated == 0
    assert "Brought back 5 rows and put back 0 rows in items" in dialog.said.text()
    assert f"safety snapshot {outcome.safety_id}" in dialog.said.text()
    now = {r[0]: r for r in content(notes)["items"]}
    old = {r[0]: r for r in was["items"]}
    assert all(now[i] == old[i] for i in range(10, 15)), "the rows as they were"
    assert 40 not in now, "a row not selected is not brought back"
    assert now[20][1] == "edited", "a row changed since is kept (the default)"
    assert any(r[1] == "added since" for r in now.values()), "a row added since is kept"
    assert len(now) == len(before["items"]) + 5
    assert outcome.safety_id is not None
    assert service.snapshot(outcome.safety_id).manifest.protected
    undone = tmp_path / "undone.db"
    service.restore(outcome.safety_id, to=undone)
    assert content(undone) == before, "the safety snapshot holds the database as it was"
    dialog.close()
    window.close()


def test_a_refusal_is_said_in_words(qtbot, make_tray, service: Service, notes: Path):
    record = service.backup(NAME)
    change(notes, "alter table items drop column payload")
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME, snapshot=record.id))
    window = browse_window(qtbot, tray_app)
    assert window.bring_back_button.text() == "&Bring the whole table back…"
    dialog = bring_back_dialog(qtbot, window)
    qtbot.waitUntil(lambda: "cannot be brought back" in dialog.counts.text(), timeout=30_000)
    text = dialog.counts.text()
    assert "payload" in text and "--" not in text and "Traceback" not in text
    assert not dialog.confirm.isEnabled()
    dialog.close()
    window.close()


@pytest.fixture
def followed(service: Service, tmp_path: Path):
    """notes.db with a real continuous history (the service's own follower)."""
    db = make_db(tmp_path / "notes.db", rows=30)
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    history = follow_with_gap(service, NAME, db)
    service.update_source(NAME, continuous=False)  # the tray is not to follow it meanwhile
    return history


def test_from_the_restore_wizard_a_snapshot_and_a_moment_in_time(
    qtbot, make_tray, service: Service, followed
):
    tray_app = make_tray()
    tray_app.show_restore(NAME)
    wizard = tray_app._dialogs["restore"]
    assert isinstance(wizard, RestoreWizard) and wizard.currentId() == SNAPSHOT
    page = wizard.page(SNAPSHOT)
    chosen = page.chosen()
    assert chosen is not None and page.browse.isEnabled()
    page.browse.click()
    window = browse_window(qtbot, tray_app)
    qtbot.waitUntil(lambda: f"snapshot {chosen.id}" in window.shown.text(), timeout=30_000)
    qtbot.waitUntil(lambda: page.tabs.isTabVisible(MOMENT_TAB), timeout=15_000)
    page.tabs.setCurrentIndex(MOMENT_TAB)
    qtbot.waitUntil(lambda: page.moment.choice is not None, timeout=15_000)
    page.browse.click()
    last = followed.states[-1]
    qtbot.waitUntil(
        lambda: window.browser is not None and window.browser.label.commit_seq > 0,
        timeout=30_000,
    )
    assert "the last change continuous protection captured then" in window.shown.text()
    qtbot.waitUntil(lambda: counts(window).get("items") == str(len(last)), timeout=30_000)
    assert window.picker.points.currentText() == "A moment in time…"
    assert window.picker.when.isVisible()
    window.close()


def test_errors_in_words_an_unreadable_point_and_a_table_gone(
    qtbot, make_tray, service: Service, notes: Path
):
    good = service.backup(NAME)
    change(notes, "insert into items(name) values ('one more')")
    damaged = service.backup(NAME)  # a differential over `good`: damaging it spares `good`
    artifact = damaged.path
    size = artifact.stat().st_size
    with artifact.open("r+b") as file:  # everything after the first bytes overwritten
        file.seek(64)
        file.write(b"\x5a" * (size - 64))
    change(notes, "drop table tags")
    tray_app = make_tray()
    tray_app.show_browse(PointWanted(NAME, snapshot=damaged.id))
    qtbot.waitUntil(lambda: f"browse:{NAME}" in tray_app._dialogs._open, timeout=10_000)
    window = tray_app._dialogs[f"browse:{NAME}"]
    assert isinstance(window, BrowseWindow)
    qtbot.waitUntil(lambda: window.message.text() != "", timeout=30_000)
    said = window.message.text()
    assert "Traceback" not in said and "Unexpected error" not in said, said
    assert "could not be opened" in window.shown.text()
    assert said.startswith("It could not be read: ") and "does not decompress" in said
    window.show_point(PointWanted(NAME, snapshot=good.id))
    qtbot.waitUntil(lambda: counts(window).get("tags") == "7", timeout=30_000)
    assert window.message.text() == ""
    assert window.select_table("tags")
    qtbot.waitUntil(lambda: window.rows.rowCount() == 7, timeout=15_000)
    select_rows(qtbot, window, [0])
    window.compare_button.click()
    qtbot.waitUntil(lambda: "no table tags any more" in window.message.text(), timeout=15_000)
    assert "Traceback" not in window.message.text()
    window.close()


def test_a_remote_that_cannot_be_reached_is_said_in_words(
    qtbot,
    make_tray,
    home: Path,
    file_keyring: Path,
    s3_server,
    bucket: str,
    proxy,
    instant_retries,
    tmp_path: Path,
):
    service = Service()
    service.add_remote(
        "offsite",
        provider="minio",
        bucket=bucket,
        endpoint=proxy.url,
        prefix="lb",
        access_key_id=s3_server.access_key_id,
        secret=s3_server.secret_access_key,
    )
    service.add_source(make_db(tmp_path / "far.db", rows=50), name="far", remote="offsite")
    gone = service.backup("far")
    service.delete_snapshot(gone.id)  # only the remote holds it now
    assert not service.snapshot(gone.id).local
    proxy.faults.offline = True
    tray_app = make_tray(app_service=service)
    tray_app.show_browse(PointWanted("far", snapshot=gone.id))
    qtbot.waitUntil(lambda: "browse:far" in tray_app._dialogs._open, timeout=10_000)
    window = tray_app._dialogs["browse:far"]
    assert isinstance(window, BrowseWindow)
    qtbot.waitUntil(lambda: window.message.text() != "", timeout=60_000)
    said = window.message.text()
    assert "offsite" in said and "Traceback" not in said and "--" not in said, said
    assert "could not be opened" in window.shown.text()
    window.close()
