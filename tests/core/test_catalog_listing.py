"""The list `lifeboat snapshots` shows, read by SQL without parsing each manifest
(issue 22): every line says what the snapshot's whole record says."""

from __future__ import annotations

import json
from pathlib import Path

from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_records import RemoteCopy, SnapshotLine, SnapshotRecord
from lifeboat.core.dbcheck import UNCHECKED_KEY, recorded_unchecked
from lifeboat.foundation.states import SnapshotStatus
from tests.core.test_catalog_tallies import SHA, _made


def _line_of(record: SnapshotRecord) -> SnapshotLine:
    """The line as the whole record says it (what the list showed before)."""
    m = record.manifest
    return SnapshotLine(
        id=m.id,
        source=m.source,
        created_at=m.created_at,
        kind=m.kind,
        base=m.base,
        size=m.size,
        db_size=m.db_size,
        status=record.status,
        locations=tuple(record.locations),
        reason=m.reason,
        protected=m.protected,
        partly_checked=bool(recorded_unchecked(m.extra)),
    )


def _varied(tmp_path: Path) -> Catalog:
    """Every kind, status, flag and copy state a line can show."""
    catalog = Catalog(tmp_path / "c.sqlite")
    rows: list[tuple[str, str, int, dict[str, object], SnapshotStatus]] = [
        ("aaaa0001", "notes", 1, {}, SnapshotStatus.OK),
        ("aaaa0002", "notes", 2, {"kind": "diff", "base": "aaaa0001"}, SnapshotStatus.OK),
        ("aaaa0003", "notes", 3, {"protected": True, "reason": "pinned"}, SnapshotStatus.CORRUPT),
        ("aaaa0004", "notes", 4, {"extra": {UNCHECKED_KEY: ["index i: x"]}}, SnapshotStatus.OK),
        ("aaaa0005", "notes", 5, {"extra": {UNCHECKED_KEY: []}}, SnapshotStatus.MISSING),
        ("aaaa0006", "notes", 6, {"kind": "raw"}, SnapshotStatus.OK),
        ("aaaa0007", "notes", 6, {"reason": "continuous"}, SnapshotStatus.OK),  # same time
        ("bbbb0001", "crm", 1, {}, SnapshotStatus.REMOTE),
    ]
    for snap_id, source, minute, changes, status in rows:
        catalog.add_snapshot(_made(snap_id, source, minute, **changes), tmp_path)
        if status != SnapshotStatus.OK:
            catalog.set_status(snap_id, status, "test")
    copies = [
        ("aaaa0001", "off", True, None),
        ("aaaa0001", "again", False, None),
        ("aaaa0002", "off", False, "its size differs"),
        ("bbbb0001", "off", True, None),
    ]
    for snap_id, remote, proven, failed in copies:
        copy = RemoteCopy(remote, "k", "k.json", 1, SHA, False, "t", proven, failed)
        catalog.add_remote_copy(snap_id, copy)
    return catalog


def test_each_line_says_what_the_whole_record_says(tmp_path: Path):
    catalog = _varied(tmp_path)
    for source in (None, "notes", "crm", "nobody"):
        lines = catalog.snapshot_lines(source)
        assert lines == [_line_of(r) for r in catalog.snapshots(source)]
    lines = {line.id: line for line in catalog.snapshot_lines()}
    assert lines["aaaa0001"].locations == ("local", "again (not proven yet)", "off")
    assert lines["aaaa0002"].locations == ("local", "off (does not match its manifest)")
    assert lines["aaaa0002"].kind == "diff" and lines["aaaa0002"].base == "aaaa0001"
    assert lines["aaaa0003"].protected and lines["aaaa0003"].status == "corrupt"
    assert lines["aaaa0004"].partly_checked and not lines["aaaa0005"].partly_checked
    assert lines["bbbb0001"].locations == ("off",)


def test_a_manifest_of_an_older_format_lists_as_a_full(tmp_path: Path):
    """Formats 1 and 2 wrote no kind (a full) and no base."""
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_snapshot(_made("cccc0001", "old", 1), tmp_path)
    with catalog._tx() as db:
        row = db.execute("select manifest from snapshots").fetchone()
        data = json.loads(row[0])
        del data["kind"], data["base"]
        data["format"] = 1
        db.execute("update snapshots set manifest=?", (json.dumps(data),))
    (line,) = catalog.snapshot_lines()
    assert line == _line_of(catalog.snapshots()[0])
    assert (line.kind, line.base) == ("full", None)


def test_lines_keep_the_order_of_the_records(tmp_path: Path):
    catalog = _varied(tmp_path)
    ids = [line.id for line in catalog.snapshot_lines()]
    assert ids == [r.id for r in catalog.snapshots()]
    assert ids.index("aaaa0007") < ids.index("aaaa0006")  # same time: the larger id first
    assert catalog.snapshot_lines("crm")[0].status == "remote"


def test_records_by_id_are_the_whole_records_of_just_those(tmp_path: Path):
    catalog = _varied(tmp_path)
    everyone = {r.id: r for r in catalog.snapshots()}
    asked = ["aaaa0001", "aaaa0002", "bbbb0001", "ffff0000"]  # the last: no such snapshot
    assert catalog.snapshots_by_id(asked) == {i: everyone[i] for i in asked[:3]}
    assert catalog.snapshots_by_id([]) == {}
    many = [f"{n:08x}" for n in range(1200)] + ["aaaa0002"]  # more than one statement holds
    assert catalog.snapshots_by_id(many) == {"aaaa0002": everyone["aaaa0002"]}


def test_the_folders_are_those_the_records_name(tmp_path: Path):
    catalog = _varied(tmp_path)
    catalog.add_remote_only(_made("cccc0001", "crm", 9), tmp_path / "elsewhere")
    assert catalog.snapshot_folders() == {r.folder for r in catalog.snapshots()}
    assert catalog.snapshot_folders() == {tmp_path, tmp_path / "elsewhere"}
    assert Catalog(tmp_path / "empty.sqlite").snapshot_folders() == set()
