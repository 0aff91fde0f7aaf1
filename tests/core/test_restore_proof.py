"""A restore takes a proof in place of the integrity check only when the proof holds.

The artifacts here hold a database with a real corruption that SQLite's quick_check finds
(a leaf page's cell pointers scribbled over), and manifests that say the snapshot's check
passed: a restore that skips the check writes the corrupt bytes, one that runs it fails
with "fails its integrity check". So each case shows which way the restore went, with the
real check and real artifacts (no stand-in for the check). The proof must hold exactly
when the restored pages are the ones the manifest's content digest lists and the recorded
check covers the one asked for; everything else checks as before, and an intact database
whose manifest's digest is wrong restores fine (a failed proof is never called damage).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from lifeboat.core.compress import compress_file
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import Manifest, read_manifest
from lifeboat.core.page_digest import CONTENT_DIGEST, PageDigest, check_covers, proves_checked
from lifeboat.core.seekable_write import compress_file_seekable
from lifeboat.core.verify import extract_verified
from lifeboat.foundation.errors import CorruptSnapshot
from tests.helpers.appdb import corrupt_page
from tests.helpers.databases import make_db

PAGE = 4096


def _digest_of(path: Path) -> str:
    pages = PageDigest(PAGE)
    pages.update(path.read_bytes())
    return pages.hexdigest()


def _leaf_page(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute(
                "select pageno from dbstat where name = 'items' and pagetype = 'leaf'"
                " order by pageno limit 1 offset 3"
            ).fetchone()[0]
        )
    finally:
        conn.close()


@pytest.fixture
def snapshot(cli, home: Path, tmp_path: Path) -> tuple[Path, Manifest]:
    """A real snapshot of an intact database: (its folder, its manifest)."""
    db = make_db(tmp_path / "notes.db", rows=600, payload=300, wal=False)
    assert cli("source", "add", str(db), "--name", "notes").code == 0
    result = cli("backup", "notes", "--json")
    assert result.code == 0, result.err
    artifact = Path(json.loads(result.out)["path"])
    manifest_file = next(artifact.parent.glob("*.json"))
    return artifact.parent, read_manifest(manifest_file)


def _artifact_of(
    database: Path, folder: Path, manifest: Manifest, *, seekable: bool = True
) -> Manifest:
    """`database` packed as the snapshot's artifact (replacing it), and the manifest that
    matches it (its SHA-256, size and content digest), still saying its check passed."""
    artifact = folder / f"{manifest.id}-crafted.sqlite.zst"
    if seekable:
        compress_file_seekable(database, artifact)
    else:
        compress_file(database, artifact)
    return replace(
        manifest,
        artifact=artifact.name,
        size=artifact.stat().st_size,
        sha256=sha256_file(artifact),
        db_size=database.stat().st_size,
        page_count=database.stat().st_size // PAGE,
        extra={**manifest.extra, CONTENT_DIGEST: _digest_of(database)},
    )


def _corrupt_copy(tmp_path: Path) -> Path:
    db = make_db(tmp_path / "corrupt.db", rows=600, payload=300, wal=False)
    corrupt_page(db, _leaf_page(db))
    conn = sqlite3.connect(db)
    try:  # SQLite finds the damage: in the check's findings, or as SQLITE_CORRUPT
        assert conn.execute("pragma quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError as exc:
        assert "malformed" in str(exc)
    finally:
        conn.close()
    return db


@pytest.mark.parametrize("seekable", [True, False], ids=["seekable", "one-frame"])
def test_proven_bytes_are_not_checked_again(snapshot, tmp_path: Path, seekable: bool):
    folder, manifest = snapshot
    corrupt = _corrupt_copy(tmp_path)
    crafted = _artifact_of(corrupt, folder, manifest, seekable=seekable)
    dest = tmp_path / "restored.db"
    extract_verified(folder, crafted, dest, check="quick", proof_replaces_check=True)
    # the check did not run (it would have failed): the bytes are exactly the artifact's
    assert dest.read_bytes() == corrupt.read_bytes()


@pytest.mark.parametrize(
    ("change", "wanted", "proof"),
    [
        ({"digest": "0" * 64}, "quick", True),  # pages differ from what was checked
        ({"digest": ""}, "quick", True),  # an older manifest without a digest
        ({}, "full", True),  # snapshot checked "quick", "full" asked for
        ({"check_result": "row 3 missing from index x"}, "quick", True),
        ({"check_mode": "none"}, "quick", True),
        ({}, "quick", False),  # verify and drills always check
    ],
    ids=["digest-differs", "no-digest", "weaker-check", "check-failed", "not-checked", "verify"],
)
def test_without_the_proof_the_check_runs(
    snapshot, tmp_path: Path, change: dict[str, str], wanted: str, proof: bool
):
    folder, manifest = snapshot
    crafted = _artifact_of(_corrupt_copy(tmp_path), folder, manifest)
    extra = dict(crafted.extra)
    if "digest" in change:
        extra[CONTENT_DIGEST] = change["digest"]
    crafted = replace(
        crafted,
        extra=extra,
        check_mode=change.get("check_mode", crafted.check_mode),
        check_result=change.get("check_result", crafted.check_result),
    )
    dest = tmp_path / "restored.db"
    with pytest.raises(CorruptSnapshot, match="fails its integrity check"):
        extract_verified(folder, crafted, dest, check=wanted, proof_replaces_check=proof)
    assert not dest.exists()


def test_an_intact_database_with_a_wrong_digest_is_checked_and_restored(snapshot, tmp_path):
    folder, manifest = snapshot
    wrong = replace(manifest, extra={**manifest.extra, CONTENT_DIGEST: "f" * 64})
    dest = tmp_path / "restored.db"
    extract_verified(folder, wrong, dest, check="quick", proof_replaces_check=True)
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("select count(*) from items").fetchone()[0] == 600
    finally:
        conn.close()


def test_a_damaged_artifact_is_still_damage_with_the_proof_on(snapshot, tmp_path: Path):
    folder, manifest = snapshot
    artifact = folder / manifest.artifact
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.chmod(0o600)
    artifact.write_bytes(bytes(data))
    dest = tmp_path / "restored.db"
    with pytest.raises(CorruptSnapshot, match="is damaged"):
        extract_verified(folder, manifest, dest, check="quick", proof_replaces_check=True)
    assert not dest.exists()


def test_the_digest_of_a_restore_is_the_snapshots(snapshot, tmp_path: Path):
    """The digest computed while decompressing (in the pool's threads) is the one the
    snapshot recorded: a real snapshot's restore is proven."""
    folder, manifest = snapshot
    dest = tmp_path / "restored.db"
    extract_verified(folder, manifest, dest, check="quick", proof_replaces_check=True)
    assert _digest_of(dest) == manifest.extra[CONTENT_DIGEST]
    assert proves_checked(manifest, "quick", _digest_of(dest))


@pytest.mark.parametrize(
    ("done", "wanted", "covers"),
    [
        ("quick", "quick", True),
        ("full", "quick", True),
        ("full", "full", True),
        ("quick", "full", False),
        ("none", "quick", False),
        ("", "quick", False),
    ],
)
def test_which_check_covers_which(done: str, wanted: str, covers: bool):
    assert check_covers(done, wanted) is covers


def test_page_digest_is_the_same_whatever_the_blocks():
    data = bytes(range(256)) * 16 * 10  # ten pages
    whole = PageDigest(PAGE)
    whole.update(data)
    pieces = PageDigest(PAGE)
    for start in range(0, len(data), 3000):  # blocks that cut pages
        pieces.update(data[start : start + 3000])
    assert pieces.hexdigest() == whole.hexdigest() != ""
    cut = PageDigest(PAGE)
    cut.update(data[:5000])
    assert cut.hexdigest() == ""  # not on a page boundary: nothing proven
