"""Snapshots in format 3 (seekable frames) next to old one-frame artifacts: both restore,
verify and rebuild differentials; a differential's frames hold whole records; a format-3
manifest is re-derived from its artifact."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.diff_index import diff_page, read_diff_index
from lifeboat.core.history.bases import BaseRef as HistoryBase
from lifeboat.core.history.page_reader import BasePages
from lifeboat.core.manifest import FORMAT_VERSION, Manifest, ManifestError, read_manifest
from lifeboat.core.pagediff import HEADER, PAGE_NUMBER
from lifeboat.core.rederive import Recovery, rederive
from lifeboat.core.seekable import SeekableArtifact, seek_entries
from lifeboat.core.seekable_pages import open_pages
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.snapshot_request import BaseRef
from lifeboat.core.verify import extract_verified
from lifeboat.foundation.errors import CorruptSnapshot
from tests.helpers.databases import db_content, make_db
from tests.helpers.old_artifacts import make_single_frame, plain_bytes
from tests.helpers.workfiles import snapshot_request


def _snap(tmp_path: Path, db: Path, base: Manifest | None = None) -> Manifest:
    folder = tmp_path / "snaps"
    ref = BaseRef(base, folder / f"{base.stem}.pages") if base is not None else None
    return take_snapshot(snapshot_request(tmp_path, db, folder=folder, base=ref, rebase_ratio=1.0))


def _change(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("update items set name = 'changed' where id % 7 = 0")
    conn.execute("delete from items where id > 2900")
    conn.commit()
    conn.close()


def _restored(tmp_path: Path, manifest: Manifest, base: Manifest | None, name: str) -> Path:
    folder = tmp_path / "snaps"
    out = tmp_path / name
    extract_verified(folder, manifest, out, check="full", base=(folder, base) if base else None)
    return out


def test_a_full_is_seekable_and_its_manifest_says_format_3(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    full = _snap(tmp_path, db)
    artifact = tmp_path / "snaps" / full.artifact
    assert full.format == FORMAT_VERSION == 3
    entries = seek_entries(artifact)
    assert entries is not None and len(entries) == -(-full.db_size // FRAME_PLAIN) > 1
    with SeekableArtifact(artifact) as reader:
        assert reader.read(0, full.db_size) == plain_bytes(artifact)
    assert db_content(_restored(tmp_path, full, None, "out.db")) == db_content(db)


def test_a_differentials_frames_hold_whole_records(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    full = _snap(tmp_path, db)
    conn = sqlite3.connect(db)
    conn.execute("update items set payload = randomblob(800) where id % 2 = 0")
    conn.commit()
    conn.close()
    diff = _snap(tmp_path, db, base=full)
    assert diff.kind == "diff"
    record = PAGE_NUMBER.size + diff.page_size
    artifact = tmp_path / "snaps" / diff.artifact
    entries = seek_entries(artifact)
    assert entries is not None and len(entries) > 1
    sizes = [e.decompressed for e in entries]
    assert sizes[-1] == 0  # the index frame (skippable), then the seek table
    sizes = sizes[:-1]
    assert (sizes[0] - HEADER.size) % record == 0
    assert all(size % record == 0 for size in sizes[1:-1])
    assert sizes[-1] % record == PAGE_NUMBER.size  # the last one ends with the end mark
    with SeekableArtifact(artifact) as reader:  # record k is at a known place
        at = HEADER.size + 5 * record
        number = int.from_bytes(reader.read(at, PAGE_NUMBER.size), "big")
        page = reader.read(at + PAGE_NUMBER.size, diff.page_size)
        index = read_diff_index(reader, diff.page_size)
    out = _restored(tmp_path, diff, full, "out.db")
    rebuilt = out.read_bytes()
    assert page == rebuilt[(number - 1) * diff.page_size :][: diff.page_size]
    # The index lists every record's page, in order: a page is found without a pass.
    assert index is not None and index.numbers[5] == number
    assert len(index.numbers) == (sum(sizes) - HEADER.size - PAGE_NUMBER.size) // record
    base_bytes = plain_bytes(tmp_path / "snaps" / full.artifact)
    for n in range(1, diff.page_count + 1):
        held = diff_page(artifact, n, diff.page_size) if n % 37 == 0 or n == number else None
        expected = rebuilt[(n - 1) * diff.page_size :][: diff.page_size]
        if n in index.numbers:
            assert index.record_offset(n) is not None
            if held is not None:
                assert held == expected
        else:
            assert index.record_offset(n) is None
            assert expected == base_bytes[(n - 1) * diff.page_size :][: diff.page_size]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == diff.db_sha256


def test_an_old_one_frame_base_still_restores_verifies_and_carries_a_differential(
    tmp_path: Path,
):
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    before = db_content(db)
    new_base = _snap(tmp_path, db)
    old = make_single_frame(tmp_path / "snaps", new_base)
    artifact = tmp_path / "snaps" / old.artifact
    assert seek_entries(artifact) is None  # an old artifact: no seek table
    assert read_manifest(tmp_path / "snaps" / old.manifest_name).format == 2
    assert db_content(_restored(tmp_path, old, None, "old.db")) == before
    _change(db)
    diff = _snap(tmp_path, db, base=old)  # a new differential on the old base
    assert diff.kind == "diff" and diff.base == old.id
    out = _restored(tmp_path, diff, old, "diff.db")
    assert db_content(out) == db_content(db) != before


def test_a_newer_artifact_format_is_refused_with_a_clear_message(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=50)
    full = _snap(tmp_path, db)
    data = full.to_dict()
    data["format"] = FORMAT_VERSION + 1
    with pytest.raises(ManifestError, match=r"newer Lifeboat .* upgrade Lifeboat"):
        Manifest.from_dict(data)


def test_catalog_rebuild_rederives_a_format_3_manifest(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    full = _snap(tmp_path, db)
    _change(db)
    diff = _snap(tmp_path, db, base=full)
    folder = tmp_path / "snaps"
    for manifest in (full, diff):
        (folder / manifest.manifest_name).unlink()
    request = snapshot_request(tmp_path, db, folder=folder)
    recovery = Recovery(request.run, request.scratch, identities=[], recipients=[], known={})
    got_full = rederive(folder / full.artifact, recovery)
    recovery.known[full.id] = (folder, got_full)
    got_diff = rederive(folder / diff.artifact, recovery)
    for got, want in ((got_full, full), (got_diff, diff)):
        assert got.format == 3 and got.kind == want.kind
        assert (got.sha256, got.size, got.db_size) == (want.sha256, want.size, want.db_size)
    assert got_diff.db_sha256 == diff.db_sha256
    assert plain_bytes(folder / full.artifact)[:16] == b"SQLite format 3\x00"


def test_a_base_whose_seek_table_is_cut_is_read_forward(tmp_path: Path):
    """No valid seek table: the page reader falls back to a forward pass (pages before
    the cut still read right); verifying the artifact says it is damaged."""
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    full = _snap(tmp_path, db)
    folder = tmp_path / "snaps"
    artifact = folder / full.artifact
    plain = plain_bytes(artifact)
    artifact.write_bytes(artifact.read_bytes()[:-5])
    request = snapshot_request(tmp_path, db, folder=folder)
    pages = BasePages(HistoryBase(full, folder), request.run, request.scratch)
    size = full.page_size
    try:
        wanted = [1, 2, full.page_count // 2, full.page_count]
        got = pages.get(wanted)
        assert got == {n: plain[(n - 1) * size : n * size] for n in wanted}
        assert pages.passes == 1
    finally:
        pages.close()
    with pytest.raises(CorruptSnapshot):
        extract_verified(folder, full, tmp_path / "out.db", check="quick")
    assert not (tmp_path / "out.db").exists()


def test_every_page_of_a_differential_reads_without_rebuilding_it(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=3000, payload=800)
    full = _snap(tmp_path, db)
    _change(db)
    conn = sqlite3.connect(db)
    conn.executemany(
        "insert into items(name, payload) values ('grown', randomblob(900))", [()] * 900
    )
    conn.commit()
    conn.close()
    diff = _snap(tmp_path, db, base=full)
    assert diff.kind == "diff" and diff.page_count > full.page_count  # it grew
    folder = tmp_path / "snaps"
    rebuilt = _restored(tmp_path, diff, full, "out.db").read_bytes()
    size = diff.page_size
    pages = open_pages(folder / diff.artifact, diff, (folder / full.artifact, full))
    assert pages is not None
    with pages:
        for n in range(1, diff.page_count + 1):
            assert pages.page(n) == rebuilt[(n - 1) * size : n * size], n
        with pytest.raises(ValueError):
            pages.page(diff.page_count + 1)
    # A differential on another base (here: a full of the grown database) is not read so.
    other = _snap(tmp_path, db)
    assert open_pages(folder / diff.artifact, diff, (folder / other.artifact, other)) is None
