"""The catalog's journal mode (core/catalog_journal.py): a rollback journal where
Lifeboat's SQLite has the WAL-reset bug, WAL where it is fixed; an existing catalog is
switched only when a process has it alone, and works meanwhile; the tray's kept watch
connection holds no lock that would stall a writer; several processes writing at once
lose nothing. Both modes run here whatever SQLite this Python links."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core import wal_reset
from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_journal import DELETE, WAL, mode_on_file
from lifeboat.core.catalog_watch import CatalogWatch

MODES = [(True, DELETE), (False, WAL)]  # (the linked SQLite has the bug, the mode wanted)


@pytest.mark.parametrize(("affected", "wanted"), MODES)
def test_a_new_catalog_is_made_in_the_mode_its_sqlite_wants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affected: bool, wanted: str
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    path = tmp_path / "catalog.sqlite"
    Catalog(path).add_event("info", "made", "notes")
    assert mode_on_file(path) == wanted
    assert (path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(("affected", "wanted"), MODES)
def test_an_existing_catalog_is_switched_once_a_process_has_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affected: bool, wanted: str
) -> None:
    path = tmp_path / "catalog.sqlite"
    other = DELETE if wanted == WAL else WAL
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", not affected)
    Catalog(path).add_event("info", "made by the other SQLite", "notes")
    assert mode_on_file(path) == other
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)

    # Another process (here: a connection) is reading it: it keeps its mode, and works.
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("begin")
        holder.execute("select count(*) from events").fetchone()
        catalog = Catalog(path)
        assert mode_on_file(path) == other
        holder.execute("commit")  # still open (a WAL connection keeps the WAL open)
        catalog.add_event("info", "written while in use", "notes")
    finally:
        holder.close()

    Catalog(path)  # alone now
    assert mode_on_file(path) == wanted
    messages = [r[0] for r in sqlite3.connect(path).execute("select message from events")]
    assert messages == ["made by the other SQLite", "written while in use"]
    assert not Path(f"{path}-wal").exists() or wanted == WAL


def test_the_kept_watch_connection_holds_no_lock_on_a_rollback_journal_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", True)
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    watch = CatalogWatch(path)
    try:
        first = watch.mark()
        # a writer that does not wait at all gets the exclusive lock: nothing is held
        writer = sqlite3.connect(path, timeout=0, isolation_level=None)
        writer.execute("begin exclusive")
        writer.execute("commit")
        writer.close()
        catalog.add_event("info", "a commit", "notes")
        second = watch.mark()
        assert first is not None and second is not None and first != second
        assert watch.mark() == second  # nothing committed since
    finally:
        watch.close()


WRITER = """
import sys
from pathlib import Path
from lifeboat.core import wal_reset
wal_reset.LINKED_HAS_BUG = sys.argv[3] == "1"
from lifeboat.core.catalog import Catalog
catalog = Catalog(Path(sys.argv[1]))
for n in range(40):
    catalog.add_event("info", f"{sys.argv[2]}-{n}", "notes")
"""


@pytest.mark.parametrize(("affected", "wanted"), MODES)
def test_processes_writing_the_catalog_at_once_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affected: bool, wanted: str
) -> None:
    monkeypatch.setattr(wal_reset, "LINKED_HAS_BUG", affected)
    path = tmp_path / "catalog.sqlite"
    Catalog(path)
    watch = CatalogWatch(path)  # as the tray keeps one open
    flag = "1" if affected else "0"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{k}", flag]) for k in range(4)
    ]
    try:
        while any(w.poll() is None for w in writers):
            watch.mark()
    finally:
        watch.close()
    assert [w.wait() for w in writers] == [0, 0, 0, 0]
    db = sqlite3.connect(path)
    assert db.execute("pragma integrity_check").fetchall() == [("ok",)]
    got = {r[0] for r in db.execute("select message from events")}
    assert got == {f"w{k}-{n}" for k in range(4) for n in range(40)}
    assert mode_on_file(path) == wanted
