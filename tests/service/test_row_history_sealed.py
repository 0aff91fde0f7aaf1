"""Service.row_history through snapshots kept sealed here (continuous protection does
not take sealed snapshots yet) and snapshots kept only on a
remote: the same versions as every point rebuilt by restore, and nothing decrypted or
downloaded is left behind. A snapshot that cannot be read is named, the others count."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.core.history.row_versions import PointKind, RowChange
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.helpers.databases import make_db
from tests.helpers.memory_remote import add_memory_remote
from tests.service.test_row_history import NAME, check_against_reference, follow

STEPS: list[list[str] | str] = [
    ["update items set name = 'one' where id = 9"],
    "diff",
    ["update items set name = 'elsewhere' where id = 150"],
    "full",
    ["update items set name = 'two' where id = 9"],
    "diff",
    ["delete from items where id = 9"],
]
SQL = "select * from items where id = 9"


def _left(home: Path) -> list[Path]:
    return [p for p in (home / "tmp").rglob("*") if p.is_file()]


def test_sealed_snapshots(home: Path, file_keyring: Path, tmp_path: Path):
    service = Service(stores=MemoryStores())
    service.init_key()
    db = make_db(tmp_path / "notes.db", rows=200)
    service.add_source(db, name=NAME, schedule="manual", encrypt_local=True)
    follow(service, db, [*STEPS, "diff"], history=False)
    records = service.workspace.catalog.snapshots(NAME)
    assert all(r.manifest.local_encryption is not None for r in records)
    versions, _, _ = check_against_reference(
        service, tmp_path, "items", KeySpec(rowid=9), SQL, commits=False
    )
    assert [v.change for v in versions] == [
        RowChange.PRESENT,
        RowChange.CHANGED,
        RowChange.CHANGED,
        RowChange.DELETED,
    ]
    assert not _left(home), "nothing decrypted is left in the scratch folder"


def test_snapshots_kept_only_on_a_remote(home: Path, tmp_path: Path):
    service = Service(stores=MemoryStores())
    add_memory_remote(service, "offsite")
    db = make_db(tmp_path / "notes.db", rows=200)
    service.add_source(db, name=NAME, schedule="manual", remote="offsite")
    steps: list[list[str] | str] = ["full", *[s for s in STEPS if isinstance(s, str)]]
    writes = iter(s for s in STEPS if not isinstance(s, str))
    for step in steps:
        service.backup(NAME, full=step == "full")
        statements = next(writes, None)
        if statements:
            conn = sqlite3.connect(db, isolation_level=None)
            for sql in statements:
                conn.execute(sql)
            conn.close()
    service.backup(NAME)
    service.upload(NAME)
    for record in service.workspace.catalog.snapshots(NAME):
        if record.manifest.kind == "diff":
            service.delete_snapshot(record.id)
    remote_only = [r for r in service.workspace.catalog.snapshots(NAME) if not r.local]
    assert remote_only
    found = service.row_history(NAME, "items", KeySpec(rowid=9)).versions
    assert [v.change for v in found] == [
        RowChange.PRESENT,
        RowChange.CHANGED,
        RowChange.CHANGED,
        RowChange.DELETED,
    ]
    assert {v.point.kind for v in found} <= {PointKind.FULL, PointKind.DIFF}
    assert found[1].point.snapshot_id in {r.id for r in remote_only}
    assert not _left(home), "nothing downloaded is left in the scratch folder"


def test_a_snapshot_that_cannot_be_read_is_named_and_the_rest_still_count(
    home: Path, tmp_path: Path
):
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=200)
    service.add_source(db, name=NAME, schedule="manual")
    follow(service, db, [*STEPS, "diff"], history=False)
    diffs = [r for r in service.workspace.catalog.snapshots(NAME) if r.manifest.kind == "diff"]
    gone = diffs[0]  # the newest (listed first): the one where the row is deleted
    (gone.folder / gone.manifest.artifact).unlink()
    history = service.row_history(NAME, "items", KeySpec(rowid=9))
    assert [i for i, _ in history.unreadable] == [gone.id]
    assert [v.change for v in history.versions] == [
        RowChange.PRESENT,
        RowChange.CHANGED,
        RowChange.CHANGED,
    ]
