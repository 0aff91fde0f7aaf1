"""What status reads of a source's snapshots without parsing each manifest (issue 22):
the catalog's counts and picks agree with the records they stand for."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_records import RemoteCopy, SnapshotRecord, SourceSnapshots
from lifeboat.core.catalog_snapshots import FOR_REASON_KEPT
from lifeboat.core.manifest import Manifest
from lifeboat.foundation.states import SnapshotStatus
from tests.core.test_catalog import manifest

SHA = "0" * 64


def _made(snap_id: str, source: str, minute: int, **changes: object) -> Manifest:
    m = replace(manifest(snap_id, source, minute), size=100 + minute, **changes)  # type: ignore[arg-type]
    suffix = {"full": ".sqlite.zst", "diff": ".diff.zst", "raw": ".raw"}[m.kind]
    return replace(m, artifact=m.stem + suffix)


def _catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog(tmp_path / "c.sqlite")
    rows = [
        ("aaaa0001", "notes", 1, {}, SnapshotStatus.OK),
        ("aaaa0002", "notes", 2, {"reason": "continuous"}, SnapshotStatus.OK),
        ("aaaa0003", "notes", 3, {}, SnapshotStatus.CORRUPT),
        ("aaaa0004", "notes", 4, {"reason": "continuous"}, SnapshotStatus.MISSING),
        ("aaaa0005", "notes", 5, {}, SnapshotStatus.OK),
        ("aaaa0006", "notes", 6, {"kind": "raw"}, SnapshotStatus.OK),  # newest: a raw copy
        ("bbbb0001", "crm", 1, {}, SnapshotStatus.REMOTE),
        ("bbbb0002", "crm", 2, {}, SnapshotStatus.CORRUPT),
    ]
    for snap_id, source, minute, changes, status in rows:
        catalog.add_snapshot(_made(snap_id, source, minute, **changes), tmp_path)
        if status != SnapshotStatus.OK:
            catalog.set_status(snap_id, status, "test")
    for snap_id, proven in (("aaaa0001", False), ("aaaa0005", True), ("bbbb0001", False)):
        catalog.add_remote_copy(snap_id, RemoteCopy("off", "k", "k.json", 1, SHA, False, "t"))
        catalog.set_copy_proof(snap_id, catalog.snapshot(snap_id).copy_on("off"), None)
        if not proven:  # recorded as found, not read back
            with catalog._tx() as db:
                db.execute("update remote_copies set proven=0 where snapshot_id=?", (snap_id,))
    return catalog


def _counts(known: SourceSnapshots) -> tuple[int, int, int, int]:
    return known.count, known.stored_bytes, known.damaged, known.missing


def _counted(records: list[SnapshotRecord]) -> tuple[int, int, int, int]:
    return (
        len(records),
        sum(r.manifest.size for r in records),
        sum(1 for r in records if r.status == "corrupt"),
        sum(1 for r in records if r.status == "missing"),
    )


def test_the_counts_are_what_the_records_hold(tmp_path: Path):
    catalog = _catalog(tmp_path)
    facts = catalog.source_snapshots("continuous")
    for source in ("notes", "crm"):
        assert _counts(facts[source]) == _counted(catalog.snapshots(source))
    assert _counts(facts["notes"]) == (6, 621, 1, 1)
    assert "nobody" not in facts
    assert Catalog(tmp_path / "empty.sqlite").source_snapshots("continuous") == {}


def test_the_newest_usable_is_the_first_good_one_that_is_no_raw_copy(tmp_path: Path):
    catalog = _catalog(tmp_path)
    facts = catalog.source_snapshots("continuous")
    records = catalog.snapshots("notes")
    expected = next(r for r in records if r.status == "ok" and r.manifest.kind != "raw")
    newest = facts["notes"].newest_usable
    assert newest == expected and newest.id == "aaaa0005"
    assert [c.remote for c in newest.copies] == ["off"], "with its copies"
    assert facts["crm"].newest_usable is None  # only remote-only and damaged ones


def test_snapshots_for_a_reason_and_unproven_copies(tmp_path: Path):
    catalog = _catalog(tmp_path)
    facts = catalog.source_snapshots("continuous")
    records = catalog.snapshots("notes")
    continuous = [r for r in records if r.manifest.reason == "continuous"]
    assert (
        list(facts["notes"].for_reason)
        == continuous
        == catalog.snapshots_for("notes", "continuous")
    )
    assert [r.id for r in continuous] == ["aaaa0004", "aaaa0002"]
    assert facts["crm"].for_reason == ()
    for source in ("notes", "crm"):
        by_records = sum(
            1
            for r in catalog.snapshots(source)
            if (c := r.copy_on("off")) is not None and not c.proven
        )
        assert facts[source].unproven.get("off", 0) == by_records
    assert facts["notes"].unproven == {"off": 1}


def test_only_the_newest_taken_for_the_reason_are_read(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    for n in range(FOR_REASON_KEPT + 5):
        snap_id = f"cccc{n:04x}"
        catalog.add_snapshot(_made(snap_id, "journal", n % 60, reason="continuous"), tmp_path)
    kept = catalog.source_snapshots("continuous")["journal"].for_reason
    everything = catalog.snapshots_for("journal", "continuous")
    assert len(everything) == FOR_REASON_KEPT + 5
    assert list(kept) == everything[:FOR_REASON_KEPT]


def test_status_of_a_real_home_counts_the_same(cli, db: Path, home: Path):
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    for _ in range(3):
        assert cli("backup", "notes", "--full").code == 0
    status = json.loads(cli("status", "--json").out)["sources"][0]
    records = json.loads(cli("snapshots", "notes", "--json").out)
    assert status["snapshots"] == len(records) == 3
    assert status["last_snapshot_id"] == records[0]["id"]
    catalog = Catalog(home / "catalog.sqlite")
    catalog.set_status(records[0]["id"], SnapshotStatus.CORRUPT, "test")
    status = json.loads(cli("status", "--json").out)["sources"][0]
    assert status["last_snapshot_id"] == records[1]["id"], "a damaged one is not the last"
    assert status["damaged"] == 1
    assert status["snapshot_bytes"] == sum(r["size"] for r in records)


def test_when_every_newest_one_is_a_base_all_are_looked_through(home: Path):
    from types import SimpleNamespace

    from lifeboat.service import Service
    from lifeboat.service.status_snapshots import continuous_snapshots

    workspace = Service().workspace
    for n in range(FOR_REASON_KEPT + 3):
        made = _made(f"dddd{n:04x}", "journal", n % 60, reason="continuous")
        workspace.catalog.add_snapshot(made, home)
    src = SimpleNamespace(name="journal")
    newest = list(workspace.catalog.source_snapshots("continuous")["journal"].for_reason)
    assert continuous_snapshots(workspace, src, newest, {"unrelated"}) == newest
    every_one_a_base = {r.id for r in newest}
    found = continuous_snapshots(workspace, src, newest, every_one_a_base)
    assert len(found) == FOR_REASON_KEPT + 3
    assert next(r for r in found if r.id not in every_one_a_base) == found[FOR_REASON_KEPT]


def test_last_events_of_all_sources_are_each_ones_last_event(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_event("warning", "stopped: disk full", "notes", "continuous:stopped")
    catalog.add_event("info", "caught up", "notes", "continuous:resumed")
    catalog.add_event("warning", "not compacted", "crm", "continuous:not-compacted")
    catalog.add_event("info", "uploaded", "crm", "history-upload")  # another kind
    catalog.add_event("info", "no source", None, "continuous:stopped")
    catalog.add_event("info", "plain", "quiet")
    every = catalog.last_events("continuous:")
    for source in ("notes", "crm", "quiet", "nobody"):
        assert every.get(source) == catalog.last_event(source, "continuous:")
    assert every == {
        "notes": ("continuous:resumed", "caught up"),
        "crm": ("continuous:not-compacted", "not compacted"),
    }


def test_usable_and_proven_counts_are_what_plan_uploads_looks_at(tmp_path: Path):
    catalog = _catalog(tmp_path)
    facts = catalog.source_snapshots("continuous")
    for source in ("notes", "crm"):
        records = catalog.snapshots(source)
        usable = [r for r in records if r.status == "ok" and r.manifest.kind != "raw"]
        assert facts[source].usable == len(usable)
        proven = sum(1 for r in usable if r.proven_copy_on("off") is not None)
        assert facts[source].proven.get("off", 0) == proven
    assert (facts["notes"].usable, facts["notes"].proven) == (3, {"off": 1})
    assert (facts["crm"].usable, facts["crm"].proven) == (0, {})


def test_status_plans_uploads_only_when_something_is_not_on_the_remote(home: Path, db: Path):
    from lifeboat.core.manifest import utc_now
    from lifeboat.remote.plans import plan_uploads
    from lifeboat.service import Service
    from lifeboat.storage.memory import MemoryStores
    from tests.helpers.databases import change_db
    from tests.helpers.memory_remote import add_memory_remote

    service = Service(stores=MemoryStores())
    add_memory_remote(service, "offsite")
    service.add_source(db, name="notes", remote="offsite")

    def pending() -> tuple[int, int]:
        (src,) = service.status().sources
        planned = plan_uploads(
            service.snapshots("notes"), "offsite", service.source("notes").remote_policy, utc_now()
        )
        return src.uploads_pending, len(planned)

    service.run_backup("notes")  # uploaded and proven
    assert pending() == (0, 0)
    change_db(db)
    service.run_backup("notes", upload=False)  # waits for its upload
    assert pending() == (1, 1)
    service.upload("notes")
    assert pending() == (0, 0)
