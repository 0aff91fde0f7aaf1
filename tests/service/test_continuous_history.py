"""Continuous history through the service: thinning by `continuous_keep`, `verify` of
the chains (damage only when proven), and `catalog rebuild` leaving history alone."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from lifeboat.core.history.points import rebuild_point, resolve_point
from lifeboat.service import Service
from lifeboat.service.history import HistoryChain, chains_of
from lifeboat.service.history_retention import thin_history
from tests.helpers.databases import make_db

NAME = "notes"
DAY_US = 86_400_000_000


def _follow(service: Service, db: Path, commits: int) -> set[int]:
    """Capture `commits` commits in this process (compacting at every poll)."""
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for row in range(1000, 1000 + commits):
            writer.execute("insert into items(id, name, payload) values (?, 'x', x'00')", (row,))
            follower.poll()
        follower.close()
        return {r[0] for r in writer.execute("select id from items")}
    finally:
        writer.close()


def db_of(service: Service) -> Path:
    return service.workspace.config().source(NAME).path


def _chain(service: Service) -> HistoryChain:
    (chain,) = chains_of(service.workspace, NAME)
    return chain


def _rows_at_tip(service: Service, chain: HistoryChain, dest: Path) -> set[int]:
    assert chain.base is not None and chain.last_us is not None
    point = resolve_point(chain.base, chain.segments, chain.last_us)
    assert point is not None
    ws = service.workspace
    rebuild_point(point, dest, ws.run, ws.scratch())
    conn = sqlite3.connect(dest)
    try:
        return {r[0] for r in conn.execute("select id from items")}
    finally:
        conn.close()


@pytest.fixture
def followed(home: Path, tmp_path: Path) -> tuple[Service, set[int]]:
    db = make_db(tmp_path / "notes.db", rows=30)
    service = Service()
    service.add_source(db, name=NAME, schedule="manual", continuous=True)
    return service, _follow(service, db, 12)


def test_thinning_merges_old_windows_and_every_later_point_still_rebuilds(followed, tmp_path):
    service, rows = followed
    before = _chain(service)
    settled = sum(s.commits for s in before.segments if s.level >= 1)
    waiting = sum(s.commits for s in before.segments if s.level == 0)  # written at close
    assert settled >= 10 and before.commits == settled + waiting
    now_us = time.time_ns() // 1000
    assert thin_history(service.workspace, NAME, now_us).commits_after == 0, "all kept: young"
    report = thin_history(service.workspace, NAME, now_us + 3 * DAY_US)
    assert report.commits_before == settled and report.commits_after == 1
    after = _chain(service)
    assert after.commits == 1 + waiting
    assert _rows_at_tip(service, after, tmp_path / "tip.db") == rows
    assert [c.status for c in service.verify_history(NAME)] == ["ok"]


def test_verify_says_damaged_only_when_proven(followed, cli):
    service, _ = followed
    chain = _chain(service)
    result = cli("verify", NAME)
    assert result.code == 0 and "every segment checked, continuous" in result.out
    segment = chain.segments[-1].path
    data = bytearray(segment.read_bytes())
    os.chmod(segment, 0o600)
    data[len(data) // 3] ^= 0xFF
    segment.write_bytes(bytes(data))
    result = cli("verify", NAME, "--json")
    checks = [c for c in json.loads(result.out) if "chain" in c]
    damaged = [c for c in checks if c["status"] == "damaged"]
    assert result.code == 1 and len(damaged) == 1, checks
    assert segment.name in damaged[0]["problem"]
    assert segment.exists(), "verify never deletes"


def test_a_chain_whose_base_is_gone_is_not_called_damaged(followed, cli):
    service, _ = followed
    chain = _chain(service)
    service.delete_snapshot(chain.base_id)
    (check,) = service.verify_history(NAME)
    assert check.status == "unchecked" and "not kept here" in (check.problem or "")
    assert cli("verify", NAME).code == 0


def test_catalog_rebuild_leaves_history_alone_and_lists_no_attention(followed, cli):
    service, _ = followed
    chain = _chain(service)
    folder = chain.segments[0].path.parent
    files = sorted(p.name for p in folder.iterdir())
    assert any(n.endswith(".json") for n in files), "level-1 segments have manifests"
    result = cli("catalog", "rebuild")
    assert result.code == 0, result.err
    assert "attention" not in result.out and "unreadable" not in result.out
    assert sorted(p.name for p in folder.iterdir()) == files
    listed = json.loads(cli("snapshots", NAME, "--json").out)
    assert [s["id"] for s in listed] == [chain.base_id]
    assert not service.attention(NAME)
    assert _chain(service).commits == chain.commits


def test_retention_keeps_the_base_of_the_history_being_captured(followed, cli):
    service, _ = followed
    base_id = _chain(service).base_id
    service.update_source(NAME, keep="last=1")
    taken = []
    for row in (5001, 5002):
        with sqlite3.connect(db_of(service)) as conn:
            conn.execute("insert into items(id, name, payload) values (?, 'y', x'01')", (row,))
        conn.close()
        taken.append(service.backup(NAME).id)  # each backup prunes after it
    preview = service.retention_preview(NAME, "last=1")
    kept = {d.snapshot.id: d.reasons for d in preview.decisions if d.keep}
    assert "base of the continuous history being captured" in kept[base_id], preview
    assert set(kept) == {base_id, taken[1]}, "the older of the two new snapshots went"
    assert {r.id for r in service.snapshots(NAME) if r.local} == {base_id, taken[1]}
    assert not service.prune(NAME).forgotten
    (chain,) = chains_of(service.workspace, NAME)
    assert chain.base is not None, "the history can still be restored"


def test_moving_the_snapshots_takes_the_history_along_and_stops_a_follower_left_behind(
    followed, tmp_path
):
    service, rows = followed
    before = _chain(service)
    old_history = before.segments[0].path.parent
    stale = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    stale.start()  # a follower still on the old folder (another process, not yet reloaded)
    names = sorted(p.name for p in old_history.glob("*.seg.zst"))
    report = service.move_snapshots(NAME, tmp_path / "elsewhere")
    assert report.history_segments == len(names) and not report.left, report.left
    assert not old_history.exists(), "nothing is left where nobody reads"
    after = _chain(service)
    assert after.segments[0].path.parent == tmp_path / "elsewhere" / NAME / "history"
    assert sorted(p.name for p in after.segments[0].path.parent.glob("*.seg.zst")) == names
    assert os.stat(after.segments[0].path.parent).st_mode & 0o777 == 0o700
    assert _rows_at_tip(service, after, tmp_path / "tip.db") == rows
    with sqlite3.connect(db_of(service)) as conn:
        conn.execute("insert into items(id, name, payload) values (9001, 'late', x'02')")
    conn.close()
    with pytest.raises(FileNotFoundError):
        stale.poll()  # it never writes into (or makes again) the old folder
        stale.close()
    assert not old_history.exists()
    fresh = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    fresh.start()  # from the settings: the new folder, the same chain, caught up
    fresh.poll()
    fresh.close()
    (chain,) = chains_of(service.workspace, NAME)
    assert chain.base_id == before.base_id
    assert _rows_at_tip(service, chain, tmp_path / "tip2.db") == rows | {9001}


def test_a_follower_waits_while_its_history_is_being_moved(followed):
    from lifeboat.core.history.folder_lock import held_for_move

    service, _ = followed
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()
    folder = _chain(service).segments[0].path.parent
    files = sorted(p.name for p in folder.iterdir())
    lock = held_for_move(folder, 5)
    assert lock is not None
    try:
        with sqlite3.connect(db_of(service)) as conn:
            conn.execute("insert into items(id, name, payload) values (9002, 'w', x'03')")
        conn.close()
        follower.poll()  # keeps the commit: nothing written, no failure
        assert sorted(p.name for p in folder.iterdir()) == files
    finally:
        lock.release()
    follower.poll()
    follower.close()
    assert _chain(service).commits > 0 and sorted(p.name for p in folder.iterdir()) != files


def test_retention_keeps_a_rollback_journal_databases_moments_as_continuous_keep_says(
    home: Path, tmp_path: Path
):
    db = tmp_path / "ledger.db"
    conn = sqlite3.connect(db)
    conn.execute("create table t(id integer primary key, v text)")
    conn.commit()
    service = Service()
    service.add_source(db, name="ledger", schedule="manual", keep="last=1", continuous=True)
    taken = []
    for value in range(3):
        conn.execute("insert into t(v) values (?)", (str(value),))
        conn.commit()
        taken.append(service.backup("ledger", reason="continuous").id)
    conn.close()
    local = {r.id for r in service.snapshots("ledger") if r.local}
    assert set(taken) <= local, "every moment of the last 24 hours stays (24h all)"
    plan = service.retention_preview("ledger", "last=1")
    reasons = {d.snapshot.id: d.reasons for d in plan.decisions}
    assert any(r.startswith("a moment continuous_keep keeps") for r in reasons[taken[0]])


def test_the_prune_preview_says_how_far_back_the_history_stays_restorable(followed, cli):
    done = cli("prune", NAME, "--dry-run")
    assert done.code == 0, done.err
    assert (
        f"{NAME}: its history keeps every change of the last 24 hours, then one an hour "
        "back to 7 days, then one a day back to 30 days"
    ) in done.out
    assert "base of the continuous history being captured" in done.out


def test_a_chain_whose_base_manifest_is_lost_keeps_its_history_while_the_base_is_there(
    followed, tmp_path
):
    """The base's manifest lost and the catalog without it (what `catalog rebuild` leaves
    when it cannot re-derive it: an artifact kept sealed, the key not at hand), a newer
    chain begun: the base's artifact is still there, so its history is not proven
    useless and is not removed (SAFETY rule 1)."""
    service, _ = followed
    first = _chain(service)
    folder = service.workspace.snapshot_folder(service.workspace.config(), service.source(NAME))
    (manifest,) = folder.glob(f"{NAME}-*-{first.base_id}.json")
    damaged = manifest.with_name(manifest.name + ".damaged")
    os.rename(manifest, damaged)
    service.workspace.catalog.remove_snapshot(first.base_id)
    follower = service.open_follower(NAME, compact_every_s=0, write_every_s=0)
    follower.start()  # cannot continue the first chain (no base): a new one
    with sqlite3.connect(db_of(service)) as conn:
        conn.execute("insert into items(id, name, payload) values (9100, 'n', x'04')")
    conn.close()
    follower.poll()
    follower.close()
    assert len(chains_of(service.workspace, NAME)) == 2
    kept = [s.path for s in first.segments]
    report = thin_history(service.workspace, NAME, time.time_ns() // 1000)
    assert report.chains_removed == []
    assert all(p.exists() for p in kept), "its history stays while its base may come back"
    os.rename(damaged, manifest)  # the manifest back (or re-derived with the key)
    service.rebuild_catalog()
    (again,) = [c for c in chains_of(service.workspace, NAME) if c.base_id == first.base_id]
    assert again.base is not None and again.commits == first.commits
