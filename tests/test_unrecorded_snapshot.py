"""A snapshot a killed run published but did not record (its manifest, the commit point,
written; its catalog row not yet) is recorded before anything relies on the catalog: a
restore's or merge's safety snapshot reuses it when it holds what is there, rather than
piling up another of the same content; a backup lists it; nothing is removed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.manifest import MANIFEST_SUFFIX, read_manifest
from lifeboat.core.rowmerge_records import MergeRequest
from lifeboat.service import Service
from tests.helpers.databases import db_content, make_db


@pytest.fixture
def service(home: Path) -> Service:
    return Service()


def _manifests(folder: Path) -> dict[str, Path]:
    found = {}
    for path in folder.glob(f"*{MANIFEST_SUFFIX}"):
        found[read_manifest(path).id] = path
    return found


def _unrecord(service: Service, snap_id: str) -> None:
    """What a run killed between publishing a snapshot and recording it leaves: the
    snapshot's files, whole, and no catalog row."""
    service.workspace.catalog.remove_snapshot(snap_id)
    assert snap_id not in {r.id for r in service.snapshots("notes")}


def _two_snapshots(service: Service, db: Path, change: str) -> tuple[str, str, Path]:
    """A snapshot, then `change` made, then one of the changed database, left unrecorded."""
    service.add_source(db)
    first = service.backup("notes").id
    with sqlite3.connect(db) as conn:
        conn.execute(change)
    conn.close()
    second = service.backup("notes").id
    folder = service.snapshots("notes")[0].folder
    _unrecord(service, second)
    return first, second, folder


def test_an_in_place_restore_reuses_the_unrecorded_snapshot_of_what_is_there(
    service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=400)
    first_content = db_content(db)
    first, second, folder = _two_snapshots(
        service, db, "update items set name = 'changed' where id = 7"
    )
    changed_content = db_content(db)
    outcome = service.restore(first)
    assert db_content(db) == first_content
    assert outcome.safety_snapshot == second, "the unrecorded snapshot holds what was there"
    assert set(_manifests(folder)) == {first, second}, "a second copy of it piled up"
    kept = service.workspace.catalog.snapshot(second)
    assert kept.manifest.protected and kept.status == "ok"
    # and it is a safety copy that restores what the restore replaced
    service.restore(second)
    assert db_content(db) == changed_content


def test_a_merge_reuses_the_unrecorded_snapshot_of_what_is_there(service: Service, tmp_path: Path):
    db = make_db(tmp_path / "notes.db", rows=400)
    first, second, folder = _two_snapshots(service, db, "delete from items where id % 10 = 3")
    outcome = service.merge_restore("notes", MergeRequest(table="items"), snapshot=first)
    assert outcome.inserted == 40
    assert outcome.safety_id == second
    assert set(_manifests(folder)) == {first, second}
    assert service.workspace.catalog.snapshot(second).manifest.protected


def test_a_backup_records_it_and_keeps_one_whose_manifest_is_damaged(
    service: Service, tmp_path: Path
):
    db = make_db(tmp_path / "notes.db", rows=400)
    _, second, folder = _two_snapshots(service, db, "delete from items where id = 9")
    with sqlite3.connect(db) as conn:
        conn.execute("delete from items where id = 10")
    conn.close()
    third = service.backup("notes").id
    _unrecord(service, third)
    damaged = _manifests(folder)[third]
    files_before = sorted(p.name for p in folder.iterdir())
    damaged.write_bytes(b"{not a manifest")
    with sqlite3.connect(db) as conn:
        conn.execute("delete from items where id = 11")
    conn.close()
    fourth = service.backup("notes").id
    listed = {r.id: r for r in service.snapshots("notes")}
    assert second in listed and listed[second].status == "ok"
    assert third not in listed, "an unreadable manifest is not guessed at"
    names = {p.name for p in folder.iterdir()}
    assert set(files_before) <= names, "a file of a snapshot was removed"
    assert fourth in listed
    attention = [i for i in service.workspace.catalog.attention() if i.folder == folder]
    assert [i.path for i in attention] == [damaged]
