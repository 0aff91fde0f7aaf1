"""A differential without the whole database's SHA-256 (the safety snapshot of a restore
or merge) is proven by its content digest: it rebuilds byte for byte, and a rebuild that
differs in any page is refused."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from lifeboat.core.page_digest import CONTENT_DIGEST, PageDigest, recorded_digest
from lifeboat.core.pagediff import page_hashes_of
from lifeboat.core.reconstruct import reconstruct
from lifeboat.core.snapshot import take_snapshot
from lifeboat.core.verify import extract_check_owed
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.test_incremental import as_base, mutate, rebuilt, request, sha
from tests.helpers.databases import db_content, make_db


def _two_differentials(tmp_path: Path):
    db = make_db(tmp_path / "live.db", rows=2000, payload=400)
    base = take_snapshot(request(tmp_path, db))
    mutate(db, 3)
    hashed = take_snapshot(request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=10))
    by_pages = take_snapshot(
        request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=10, whole_sha256=False)
    )
    return db, base, hashed, by_pages


def test_a_differential_proven_by_pages_rebuilds_byte_for_byte(tmp_path: Path):
    db, base, hashed, by_pages = _two_differentials(tmp_path)
    assert hashed.kind == by_pages.kind == "diff"
    assert hashed.db_sha256 and by_pages.db_sha256 is None
    assert recorded_digest(by_pages) == recorded_digest(hashed)
    out = rebuilt(tmp_path, by_pages, base)
    # the same bytes the differential with a whole SHA-256 proves
    assert sha(out) == hashed.db_sha256
    assert db_content(out) == db_content(db)


def test_a_rebuild_whose_pages_differ_from_the_digest_is_refused(tmp_path: Path):
    _, base, _, by_pages = _two_differentials(tmp_path)
    wrong = dict(by_pages.extra)
    wrong[CONTENT_DIGEST] = hashlib.sha256(b"another database").hexdigest()
    edited = dataclasses.replace(by_pages, extra=wrong)
    snaps = tmp_path / "snaps"
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot, match="page hashes"):
        reconstruct(snaps / base.artifact, base, snaps / by_pages.artifact, edited, out)
    assert not out.exists(), "a rebuild that failed its proof is removed"


def test_a_differential_recording_both_is_proven_by_its_content_digest(tmp_path: Path):
    """As a full snapshot's restore is: a wrong content digest is refused even with the
    right SHA-256 beside it; the right one rebuilds the bytes that SHA-256 names."""
    _, base, hashed, _ = _two_differentials(tmp_path)
    snaps = tmp_path / "snaps"
    out = tmp_path / "out.db"
    assert reconstruct(snaps / base.artifact, base, snaps / hashed.artifact, hashed, out) == ""
    assert sha(out) == hashed.db_sha256
    out.unlink()
    wrong = dict(hashed.extra)
    wrong[CONTENT_DIGEST] = hashlib.sha256(b"another database").hexdigest()
    edited = dataclasses.replace(hashed, extra=wrong)
    with pytest.raises(CorruptSnapshot, match="page hashes"):
        reconstruct(snaps / base.artifact, base, snaps / hashed.artifact, edited, out)
    assert not out.exists()


@pytest.mark.parametrize("cut", [1, 100, 4096, 5000, 12288])
def test_the_page_digest_is_the_same_however_the_blocks_are_cut(cut: int):
    page = 4096
    data = bytes(range(256)) * (page * 3 // 256)
    expected = hashlib.sha256(page_hashes_of(memoryview(data), page)).hexdigest()
    digest = PageDigest(page)
    for at in range(0, len(data), cut):
        digest.update(memoryview(data[at : at + cut]))
    assert digest.hexdigest() == expected
    partial = PageDigest(page)
    partial.update(memoryview(data[:5000]))
    assert partial.hexdigest() == "", "a partial page never matches"


def test_a_differential_proven_by_pages_needs_no_check_again_when_its_check_covers(
    tmp_path: Path,
):
    _, base, _, by_pages = _two_differentials(tmp_path)
    snaps = tmp_path / "snaps"
    out = tmp_path / "owed.db"
    assert by_pages.check_result == "ok" and by_pages.check_mode == "quick"
    # its rebuild proven by the content digest: the check it passed stands
    owed = extract_check_owed(snaps, by_pages, out, check="quick", base=(snaps, base))
    assert not owed and db_content(out) == db_content(rebuilt(tmp_path, by_pages, base))
    out.unlink()
    # a stronger check than the one it passed is owed
    assert extract_check_owed(snaps, by_pages, out, check="full", base=(snaps, base))
