"""The continuous history of a source kept encrypted here is sealed too: no plain page of
it on disk (every file grepped, zstd frames opened), listed without decrypting, and
restore --at, diff --at, verify, timeline and thinning work on it. Without an identity
(the keyring's entry gone) capture goes on, uncompacted, and that is reported."""

from __future__ import annotations

import io
import secrets
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard

from lifeboat.core.encryption import IDENTITIES_ENTRY
from lifeboat.core.history.sealing import is_sealed
from lifeboat.service import Service
from lifeboat.service.history import (
    chains_of,
    history_folder,
    history_listing,
    use_history_keys,
)
from lifeboat.service.history_retention import thin_history
from lifeboat.service.problems import problem_of
from lifeboat.storage.memory import MemoryStores

NAME = "secret"
DAY_US = 86_400_000_000


def _plain_views(data: bytes) -> list[bytes]:
    """The file's bytes, and what zstd gives back from them if they are zstd frames
    (a plain segment's pages are compressed: grepping the file alone could miss them)."""
    views = [data]
    try:
        with zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        ) as reader:
            views.append(reader.read())
    except zstandard.ZstdError:
        pass
    return views


def files_holding(root: Path, marker: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        plain = path.is_file() and not path.is_symlink()
        if plain and any(marker in view for view in _plain_views(path.read_bytes())):
            found.append(path)
    return found


def _service(home: Path, tmp_path: Path, *, sealed: bool) -> tuple[Service, Path]:
    service = Service(stores=MemoryStores())
    service.init_key()
    db = tmp_path / f"{NAME}.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table notes(id integer primary key, body text)")
    conn.close()
    service.add_source(db, name=NAME, schedule="manual", encrypt_local=sealed, continuous=True)
    return service, db


def _capture(service: Service, db: Path, marker: str, commits: int, **follow: float) -> list:
    """Commit `commits` notes holding `marker` while a follower captures; return
    (moment in µs, row count) after each."""
    follower = service.open_follower(NAME, write_every_s=0, **follow)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    marks = []
    try:
        for k in range(commits):
            conn.execute("insert into notes(body) values (?)", (f"{marker} {k}",))
            follower.poll()
            marks.append((time.time_ns() // 1000, k + 1))
        follower.close()
    finally:
        conn.close()
    return marks


@pytest.fixture
def marker() -> str:
    return "sealed-marker-" + secrets.token_hex(8)


def test_the_history_of_a_sealed_source_holds_no_plain_page(
    home: Path, file_keyring: Path, tmp_path: Path, marker: str
):
    service, db = _service(home, tmp_path, sealed=True)
    _capture(service, db, marker, 12, compact_every_s=1000)  # level-0 files kept
    folder = history_folder(service.workspace, service.workspace.config().source(NAME))
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names and all(n.endswith((".seg.zst.age", ".json")) for n in names), names
    assert sum(n.endswith(".age") for n in names) == sum(n.endswith(".json") for n in names)
    _capture(service, db, marker, 6, compact_every_s=0)  # compacted: level 1, sealed
    listing, _ = history_listing(folder, NAME)
    assert listing.segments and all(is_sealed(s.path) for s in listing.segments)
    assert any(s.level == 1 for s in listing.segments)
    assert files_holding(home, marker.encode()) == []
    assert db in files_holding(db.parent, marker.encode())  # the grep sees the live file


def test_the_same_grep_finds_the_marker_in_a_plain_history(
    home: Path, file_keyring: Path, tmp_path: Path, marker: str
):
    """The grep above can fail: a history kept plain shows the marker."""
    service, db = _service(home, tmp_path, sealed=False)
    _capture(service, db, marker, 6, compact_every_s=0)
    folder = history_folder(service.workspace, service.workspace.config().source(NAME))
    assert files_holding(folder, marker.encode())


def test_restore_diff_verify_timeline_and_thinning_work_on_sealed_history(
    home: Path, file_keyring: Path, tmp_path: Path, marker: str, cli
):
    service, db = _service(home, tmp_path, sealed=True)
    marks = _capture(service, db, marker, 15, compact_every_s=0)
    at_us, rows = marks[6]
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_us / 1e6)) + (
        f".{at_us % 1_000_000:06d}+00:00"
    )
    out = tmp_path / "back.db"
    restored = cli("restore", NAME, "--at", at, "--to", str(out))
    assert restored.code == 0, restored.err
    back = sqlite3.connect(out)
    assert back.execute("select count(*) from notes").fetchone()[0] == rows
    back.close()
    diff = cli("diff", NAME, "--at", at)
    assert diff.code == 0, diff.err
    verified = cli("verify", NAME)
    assert verified.code == 0, verified.out + verified.err
    timeline = cli("timeline", NAME, "--json")
    assert timeline.code == 0 and '"commits": 15' in timeline.out.replace(" ", " ")
    # thinning a day later: one commit kept per window, every later point still rebuilds
    (chain,) = chains_of(service.workspace, NAME)
    report = thin_history(service.workspace, NAME, (chain.last_us or 0) + 2 * DAY_US)
    assert report.commits_after < report.commits_before
    (thinned,) = chains_of(service.workspace, NAME)
    assert all(is_sealed(s.path) for s in thinned.segments)
    again = cli("verify", NAME, "--json")
    assert again.code == 0, again.out
    assert files_holding(home, marker.encode()) == []
    assert not [p for p in (home / "tmp").rglob("*") if p.is_file()], "nothing decrypted left"


def test_without_an_identity_capture_goes_on_uncompacted_and_catches_up(
    home: Path, file_keyring: Path, tmp_path: Path, marker: str
):
    service, db = _service(home, tmp_path, sealed=True)
    _capture(service, db, marker, 4, compact_every_s=0)
    identity = service.secrets.get(IDENTITIES_ENTRY)
    assert identity
    service.secrets.delete(IDENTITIES_ENTRY)  # the keyring no longer gives it
    locked = Service(stores=MemoryStores())  # a host started now: no key to read with
    follower = locked.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()  # its history cannot be replayed: a new chain, capture goes on
    assert "sealed" in follower.status.new_chains[-1]
    conn = sqlite3.connect(db, isolation_level=None)
    for k in range(5):
        conn.execute("insert into notes(body) values (?)", (f"{marker} locked {k}",))
        follower.poll()
    assert follower.status.commits >= 5 and follower.status.compactions == 0
    assert follower.status.not_compacted and "keyring" in follower.status.not_compacted
    locked.history_not_compacted(NAME, follower.status.not_compacted)
    locked.history_not_compacted(NAME, follower.status.not_compacted)  # recorded once
    events = [e for e in locked.events() if e.get("kind") == "continuous:not-compacted"]
    assert len(events) == 1
    (status,) = [s for s in locked.status().sources if s.name == NAME]
    problem = problem_of(status, datetime.now(UTC))
    assert problem is not None and "is not compacted" in problem.reason
    service.secrets.put(IDENTITIES_ENTRY, identity)  # the keyring gives it again
    use_history_keys(locked.workspace)  # what a host asks again (the cache is per process)
    conn.execute("insert into notes(body) values (?)", (f"{marker} back",))
    follower.poll()
    assert follower.status.compactions == 1 and follower.status.not_compacted is None
    follower.close()
    conn.close()
    locked.capture_running(NAME)  # what the host says once compaction caught up
    (status,) = [s for s in locked.status().sources if s.name == NAME]
    assert status.history_not_compacted is None
    assert files_holding(home, marker.encode()) == []


def test_source_set_continuous_is_allowed_for_a_source_kept_encrypted(
    home: Path, file_keyring: Path, tmp_path: Path, cli
):
    service, _db = _service(home, tmp_path, sealed=True)
    assert cli("source", "set", NAME, "--no-continuous").code == 0
    result = cli("source", "set", NAME, "--continuous")
    assert result.code == 0, result.err
    src = service.workspace.config().source(NAME)
    assert src.continuous and src.encrypt_local


def test_a_sealed_segment_without_its_manifest_and_no_identity_is_not_an_error(
    home: Path, file_keyring: Path, tmp_path: Path, marker: str, cli
):
    """A sealed segment is published before its manifest (a listing in between, or a
    kill there, finds it without one): with the keyring locked, the status, the
    timeline and verify still answer; the segment is not called damaged, and is back
    in the listing once the key is."""
    service, db = _service(home, tmp_path, sealed=True)
    _capture(service, db, marker, 6, compact_every_s=1000)  # level-0 files, sealed
    folder = history_folder(service.workspace, service.workspace.config().source(NAME))
    manifests = sorted(folder.glob("*.json"))
    manifests[-1].unlink()  # the last one published, its manifest not yet written
    identity = service.secrets.get(IDENTITIES_ENTRY)
    service.secrets.delete(IDENTITIES_ENTRY)
    locked = Service(stores=MemoryStores())
    use_history_keys(locked.workspace)
    (status,) = [s for s in locked.status().sources if s.name == NAME]
    assert status.name == NAME
    timeline = cli("timeline", NAME)
    assert timeline.code == 0, timeline.err
    verified = cli("verify", NAME, "--json")
    assert "damaged" not in verified.out, verified.out
    service.secrets.put(IDENTITIES_ENTRY, identity)
    use_history_keys(locked.workspace)
    assert sum(c.commits for c in chains_of(locked.workspace, NAME)) == 6
