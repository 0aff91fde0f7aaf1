"""History shows each snapshot's kind, base, stored size and remote copies, read from a
real upload (to the memory store: S3 is not what is tested here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lifeboat.gui.app import TrayApp
from lifeboat.gui.text import short_time, size_text
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.gui.test_history_dialog import open_history, shown_ids
from tests.helpers.databases import change_db, make_db
from tests.helpers.memory_remote import add_memory_remote


@pytest.fixture
def service(home: Path) -> Service:
    return Service(stores=MemoryStores())


def cells(dialog, snapshot_id: str) -> dict[str, str]:
    view = dialog.snapshot_view
    row = shown_ids(dialog).index(snapshot_id)
    return {
        view.headerData(c, Qt.Orientation.Horizontal): view.index(row, c).data()
        for c in range(view.columnCount())
    }


def test_kind_base_stored_size_and_remote_copy(qtbot, make_tray, service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    add_memory_remote(service)
    service.add_source(db, schedule="manual", remote="offsite")
    full = service.backup("notes")
    make_db(db, rows=10, seed=2)  # a few more rows: the next snapshot is a differential
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff" and diff.manifest.base == full.id
    service.upload("notes")
    # Nothing waits to be sent when the tray starts, so it queues no upload; the snapshot
    # taken after that stays "not uploaded yet" (taken before, the tray's start would
    # send it, racing the History's read).
    tray_app: TrayApp = make_tray()
    thread = tray_app.scheduler
    assert thread is not None
    qtbot.waitUntil(lambda: thread.scheduler is not None, timeout=20_000)  # its start is over
    change_db(db)  # else nothing new is stored (the database is unchanged)
    waiting = service.backup("notes", upload=False)
    dialog = open_history(qtbot, tray_app)

    row = cells(dialog, full.id)
    assert (row["Holds"], row["Built on"], row["Remote copy"]) == ("whole", "", "offsite")
    assert row["Stored"] == size_text(full.manifest.size)
    row = cells(dialog, diff.id)
    assert (row["Holds"], row["Built on"], row["Remote copy"]) == (
        "changes",
        short_time(full.manifest.created_at),
        "offsite",
    )
    assert cells(dialog, waiting.id)["Remote copy"] == "not uploaded yet"
    stored = dialog.snapshot_view.index(shown_ids(dialog).index(diff.id), 4)
    assert stored.data() == size_text(diff.manifest.size)
    copy = service.snapshot(diff.id).copy_on("offsite")
    assert copy is not None
    assert f"offsite: {size_text(copy.size)}" in stored.data(Qt.ItemDataRole.ToolTipRole)


def test_copies_not_proven_are_shown_as_such(qtbot, service: Service, tmp_path: Path):
    import contextlib
    import sqlite3

    from lifeboat.gui.history_models import SnapshotTable

    add_memory_remote(service)
    service.add_source(make_db(tmp_path / "notes.db", rows=50), schedule="manual", remote="offsite")
    unproven, failed = service.backup("notes"), service.backup("notes", full=True)
    service.upload("notes")
    catalog = service.workspace.catalog
    with contextlib.closing(sqlite3.connect(catalog.path)) as db:
        db.execute("update remote_copies set proven=0 where snapshot_id=?", (unproven.id,))
        db.commit()
    copy = service.snapshot(failed.id).copy_on("offsite")
    catalog.set_copy_proof(failed.id, copy, "read back, it hashes differently")

    table = SnapshotTable()
    table.set_snapshots(service.snapshots(), {"notes": "offsite"})
    column = [c.title for c in table.columns].index("Remote copy")

    def shown(snap_id: str, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> str:
        row = [r.id for r in table.rows].index(snap_id)
        return table.index(row, column).data(role)

    assert shown(unproven.id) == "offsite (not proven yet)"
    assert "not counted until the next upload has read it back" in shown(
        unproven.id, Qt.ItemDataRole.ToolTipRole
    )
    assert shown(failed.id) == "offsite (does not match its manifest)"
    tip = shown(failed.id, Qt.ItemDataRole.ToolTipRole)
    assert "read back, it hashes differently" in tip and "kept on the remote" in tip
