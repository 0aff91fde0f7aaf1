"""A differential rebuilt on its seekable base frame by frame (core/reconstruct_frames.py)
is the database, byte for byte, whether it grew, shrank or changed in its first and last
pages; the same as the rebuild through one stream of the base gives; and a damaged frame
of the base is said of the base, a damaged differential of the differential."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.core.reconstruct import BaseUnusable, reconstruct
from lifeboat.core.seekable import open_seekable
from lifeboat.core.snapshot import take_snapshot
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.test_incremental import as_base, mutate, request, sha
from tests.helpers.databases import db_content, make_db


def _grow(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "insert into items(name, payload) values (?, randomblob(900))",
        [(f"grown-{n}",) for n in range(3000)],
    )
    conn.execute("update items set name = 'first' where id = (select min(id) from items)")
    conn.commit()
    conn.close()


def _shrink(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("delete from items where id % 3 = 0")
    conn.commit()
    conn.execute("vacuum")
    conn.close()


def _base_and_diff(tmp_path: Path, rows: int, change: Callable[[Path], None]):
    """A live database, its full snapshot, `change` made, then a differential on it."""
    db = make_db(tmp_path / "live.db", rows=rows, payload=500)
    base = take_snapshot(request(tmp_path, db))
    change(db)
    diff = take_snapshot(request(tmp_path, db, as_base(tmp_path, base), rebase_ratio=50))
    assert diff.kind == "diff" and diff.db_sha256
    return db, base, diff, tmp_path / "snaps"


@pytest.mark.parametrize("change", ["mutate", "grow", "shrink"])
def test_the_rebuild_on_frames_is_the_database_and_the_streams_rebuild(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
):
    changes = {"mutate": lambda db: mutate(db, 7), "grow": _grow, "shrink": _shrink}
    db, base, diff, folder = _base_and_diff(tmp_path, 8000, changes[change])
    from lifeboat.core import reconstruct_frames

    frames = reconstruct_frames.seekable_base(folder / base.artifact, base)
    assert frames is not None and len(frames.entries or ()) > 20  # read frame by frame
    frames.close()
    on_frames = tmp_path / "frames.db"
    assert reconstruct(folder / base.artifact, base, folder / diff.artifact, diff, on_frames) == ""
    assert sha(on_frames) == diff.db_sha256
    assert db_content(on_frames) == db_content(db)
    # the stream's rebuild (the base read as one stream) gives the same bytes
    monkeypatch.setattr(reconstruct_frames, "seekable_base", lambda path, manifest: None)
    streamed = tmp_path / "stream.db"
    reconstruct(folder / base.artifact, base, folder / diff.artifact, diff, streamed)
    assert streamed.read_bytes() == on_frames.read_bytes()


def test_a_damaged_base_frame_is_said_of_the_base_and_a_damaged_differential_of_itself(
    tmp_path: Path,
):
    _, base, diff, folder = _base_and_diff(tmp_path, 8000, lambda db: mutate(db, 3))
    artifact, own = folder / base.artifact, folder / diff.artifact
    out = tmp_path / "out.db"
    intact = artifact.read_bytes()
    damaged = bytearray(intact)
    damaged[len(damaged) // 3] ^= 0xFF  # a frame of the base; its seek table intact
    artifact.write_bytes(bytes(damaged))
    assert open_seekable(artifact) is not None  # so the frames are what is read
    with pytest.raises(BaseUnusable) as failed:
        reconstruct(artifact, base, own, diff, out)
    assert failed.value.base_id == base.id and not out.exists()
    artifact.write_bytes(intact[: len(intact) - 20])  # cut short: no seek table, a stream
    with pytest.raises(BaseUnusable):
        reconstruct(artifact, base, own, diff, out)
    assert not out.exists()
    artifact.write_bytes(intact)
    mine = bytearray(own.read_bytes())
    mine[len(mine) // 2] ^= 0xFF
    own.write_bytes(bytes(mine))
    with pytest.raises(CorruptSnapshot) as failed_own:
        reconstruct(artifact, base, own, diff, out)
    assert not isinstance(failed_own.value, BaseUnusable) and not out.exists()


def test_a_base_whose_manifest_disagrees_is_read_as_a_stream_and_a_file_at_dest_is_kept(
    tmp_path: Path,
):
    import dataclasses

    from lifeboat.core import reconstruct_frames

    _, base, diff, folder = _base_and_diff(tmp_path, 3000, lambda db: mutate(db, 4))
    artifact = folder / base.artifact
    for odd in (
        dataclasses.replace(base, page_size=0),
        dataclasses.replace(base, page_count=base.page_count + 1),
    ):
        assert reconstruct_frames.seekable_base(artifact, odd) is None
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        reconstruct(artifact, base, folder / diff.artifact, diff, taken)
    assert taken.read_bytes() == b"precious"
