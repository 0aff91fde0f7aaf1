"""What a large catalog reads in one query instead of record by record, and the manifest
checks made cheaper for it (issue 22): the answers stay the same."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_records import RemoteCopy
from lifeboat.core.manifest import (
    TIMESTAMP_FORMAT,
    Manifest,
    ManifestError,
    is_plain_name,
    snapshot_stem,
)
from tests.core.test_catalog import manifest


def _copy(remote: str, sha: str) -> RemoteCopy:
    return RemoteCopy(remote, f"{remote}/k", f"{remote}/k.json", 10, sha, False, "t")


def test_remotes_with_copies_is_what_the_records_say(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    assert catalog.remotes_with_copies() == set()
    for n, snap_id in enumerate(("aaaa0001", "aaaa0002", "aaaa0003")):
        catalog.add_snapshot(manifest(snap_id, minute=n), tmp_path)
    sha = "0" * 64
    catalog.add_remote_copy("aaaa0001", _copy("offsite", sha))
    catalog.add_remote_copy("aaaa0002", _copy("offsite", sha))
    catalog.add_remote_copy("aaaa0002", _copy("second", sha))
    catalog.add_remote_copy("aaaa0003", _copy("gone", sha))
    catalog.remove_snapshot("aaaa0003")  # its copy goes with it

    from_records = {c.remote for r in catalog.snapshots() for c in r.copies}
    assert catalog.remotes_with_copies() == from_records == {"offsite", "second"}


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("notes-20260101T120000Z-aaaa0001.sqlite.zst", True),
        ("a b", True),
        ("caf\u00e9", True),
        ("a\x80b", True),  # not a control character in the sense checked
        ("", False),
        (".", False),
        ("..", False),
        ("a/b", False),
        ("a\\b", False),
        ("a\x00b", False),
        ("a\nb", False),
        ("a\x1fb", False),
        ("a\x7fb", False),
    ],
)
def test_plain_names(name: str, plain: bool):
    assert is_plain_name(name) is plain


def test_a_manifest_naming_a_control_character_is_refused(tmp_path: Path):
    data = json.loads(manifest("aaaa0001").to_json())
    data["artifact"] = "notes\x07.sqlite.zst"
    with pytest.raises(ManifestError, match="bad artifact name"):
        Manifest.from_dict(data)
    data = json.loads(manifest("aaaa0001").to_json())
    del data["sha256"]
    with pytest.raises(ManifestError, match="lacks sha256"):
        Manifest.from_dict(data)
    data = json.loads(manifest("aaaa0001").to_json())
    data["a_newer_field"] = 1
    assert Manifest.from_dict(data).extra == {"a_newer_field": 1}


def test_count_and_local_folders_are_what_the_records_say(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    assert catalog.snapshot_count() == 0 and catalog.local_folders() == set()
    here, there = tmp_path / "here", tmp_path / "there"
    catalog.add_snapshot(manifest("aaaa0001", minute=1), here)
    catalog.add_snapshot(manifest("aaaa0002", minute=2), here)
    catalog.add_remote_only(manifest("bbbb0001", "crm", minute=3), there)
    records = catalog.snapshots()
    assert catalog.snapshot_count() == len(records) == 3
    assert catalog.local_folders() == {r.folder for r in records if r.local} == {here}


def test_a_manifest_written_is_the_same_json_as_before(tmp_path: Path):
    from dataclasses import asdict

    from lifeboat.core.manifest import iso_utc

    m = replace(manifest("aaaa0001"), tables={"notes": 3}, extra={"copy_strategy": "backup"})
    data = asdict(m)
    data["created_at"] = iso_utc(m.created_at)
    data.update(data.pop("extra"))
    assert m.to_json() == (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    assert Manifest.from_dict(json.loads(m.to_json())) == m


def test_a_manifest_read_is_the_one_its_constructor_makes():
    """from_dict builds the Manifest without its generated __init__ (issue 22): every
    field, the defaults of those a file leaves out and `extra` are as __init__ sets them."""
    from dataclasses import fields

    full = replace(manifest("aaaa0001"), tables={"t": 1}, extra={"check_unchecked": ["x"]})
    read = Manifest.from_dict(json.loads(full.to_json()))
    assert read == full and read.extra is not full.extra
    data = json.loads(manifest("aaaa0002").to_json())
    for name in ("format", "kind", "base", "db_sha256", "pages_sha256", "tables"):
        data.pop(name)  # what a format-1 manifest leaves out
    data["format"] = 1
    old = Manifest.from_dict(data)
    made = Manifest(**{f.name: getattr(old, f.name) for f in fields(Manifest)})
    assert old == made and (old.kind, old.base, old.tables, old.extra) == ("full", None, None, {})
    assert Manifest.from_dict(data).extra is not old.extra  # no dict shared between two
    with pytest.raises(dataclasses.FrozenInstanceError):
        old.id = "bbbb0001"  # type: ignore[misc]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=14))),
        datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC),  # strftime does not pad the year here
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_a_stem_is_the_strftime_text(moment: datetime):
    stamp = moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    assert snapshot_stem("notes", moment, "aaaa0001") == f"notes-{stamp}-aaaa0001"
