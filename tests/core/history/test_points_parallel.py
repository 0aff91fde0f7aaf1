"""A point's rebuild with its base's frames and its segments' images decompressed by a
pool (core/history/seekable_blocks.py, rebuild_images.py): every point equals the
database as it was, from a seekable base (many 128 KiB frames) and from an old
single-frame one, with more segment pages than one chunk of images; a damaged frame of
the base or of a segment is named as damage and leaves nothing; a rebuild killed with
SIGKILL leaves nothing the next start does not sweep."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.history.points import rebuild_point
from lifeboat.core.history.rebuild_images import CHUNK_PAGES
from lifeboat.core.history.segment_read import SegmentDamaged
from lifeboat.core.leftovers import sweep_folder
from lifeboat.core.runs import WORK_RE, start_run
from lifeboat.core.seekable import seek_entries
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.history.helpers import Capture, make_capture
from tests.core.history.test_points_blocks import Clock, _as_restored
from tests.helpers.old_artifacts import make_single_frame
from tests.helpers.waiting import wait_until

_ROW = 3000  # one row a page (4 KiB pages)


def _history(tmp_path: Path, base_rows: int, grow_rows: int):  # type: ignore[no-untyped-def]
    """A WAL database of `base_rows` one-page rows, its base, then commits: rows updated
    all over the base, `grow_rows` rows appended, rows updated in both. Returns the
    capture, the chain and {time: the database's bytes then}."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma page_size=4096")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    conn.executemany(
        "insert into items values (?, randomblob(?))", [(k, _ROW) for k in range(1, base_rows)]
    )
    conn.execute("pragma wal_checkpoint(truncate)")
    capture = make_capture(tmp_path, db)
    clock = Clock()
    follower = capture.follower(clock=clock)
    follower.start()
    chain = follower.status.chain
    assert chain is not None
    rng = random.Random(base_rows)
    expected = {}

    def step(*statements: str) -> None:
        for sql in statements:
            conn.execute(sql)
        clock.us += 1_000_000
        follower.poll()
        expected[clock.us] = _as_restored(db, conn)

    spread = ",".join(str(rng.randrange(1, base_rows)) for _ in range(base_rows // 3))
    step(f"update items set v = randomblob({_ROW}) where id in ({spread})")
    grow = (  # in four commits: the segment gets several frames
        "with recursive n(i) as (select 1 union all select i + 1 from n "
        f"where i < {grow_rows // 4}) "
        f"insert into items(v) select randomblob({_ROW}) from n"
    )
    step(grow, grow, grow, grow)
    both = ",".join(str(rng.randrange(1, base_rows + grow_rows)) for _ in range(200))
    step(f"update items set v = randomblob({_ROW}) where id in ({both})", "create table t(x)")
    follower.close()
    conn.close()
    return capture, chain, expected


@pytest.mark.parametrize("old_base", [False, True], ids=["seekable-base", "single-frame-base"])
def test_every_point_rebuilds_to_the_database_as_it_was(tmp_path: Path, old_base: bool):
    capture, chain, expected = _history(tmp_path, 900, CHUNK_PAGES + 300)
    base = capture.open_base(chain)
    assert base is not None
    entries = seek_entries(base.artifact)
    assert entries is not None and len(entries) > 20  # many frames
    if old_base:
        make_single_frame(capture.folder, base.manifest)
        assert seek_entries(base.artifact) is None
    for number, (at_us, want) in enumerate(expected.items()):
        point = capture.point(chain, at_us)
        assert point is not None
        rebuilt = rebuild_point(point, tmp_path / f"p{number}.db", capture.run, capture.scratch)
        assert rebuilt.path.read_bytes() == want, f"point {number}"
    assert rebuilt.pages_from_segments > CHUNK_PAGES  # the images came in several chunks


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


def _no_work_files(folder: Path) -> bool:
    return not [n for n in os.listdir(folder) if n.startswith(".lb-")]


def test_a_damaged_frame_of_the_base_is_named_and_nothing_is_left(tmp_path: Path):
    capture, chain, expected = _history(tmp_path, 600, 100)
    base = capture.open_base(chain)
    assert base is not None
    entries = seek_entries(base.artifact)
    assert entries is not None
    _flip(base.artifact, sum(e.compressed for e in entries[:9]) + 100)  # inside frame 9
    point = capture.point(chain, max(expected))
    assert point is not None
    with pytest.raises(CorruptSnapshot, match=f"{base.artifact.name}: frame 9"):
        rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch)
    assert not (tmp_path / "p.db").exists() and _no_work_files(tmp_path)


def test_a_damaged_frame_of_a_segment_is_named_and_nothing_is_left(tmp_path: Path):
    capture, chain, expected = _history(tmp_path, 600, 1200)
    point = capture.point(chain, max(expected))
    assert point is not None
    # The segment holding the appended pages (their images are all read), frame 2.
    segment = max((s.path for s in point.segments), key=lambda p: len(seek_entries(p) or []))
    entries = seek_entries(segment)
    assert entries is not None and len(entries) > 4
    _flip(segment, sum(e.compressed for e in entries[:2]) + 100)
    with pytest.raises(SegmentDamaged, match=f"{segment.name}: frame 2"):
        rebuild_point(point, tmp_path / "p.db", capture.run, capture.scratch)
    assert not (tmp_path / "p.db").exists() and _no_work_files(tmp_path)


_REBUILDER = """
import sys
from pathlib import Path
from tests.core.history.helpers import make_capture
from lifeboat.core.history.points import rebuild_point
root, chain, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
capture = make_capture(root, root / "app.db")
point = capture.point(chain, at)
out = root / "out"
for number in range(10_000):  # rebuilds one after the other until killed
    rebuild_point(point, out / f"p{number}.db", capture.run, capture.scratch)
"""


def test_a_rebuild_killed_mid_way_leaves_nothing_the_next_start_keeps(tmp_path: Path):
    _, chain, expected = _history(tmp_path, 3000, 1500)
    out = tmp_path / "out"
    out.mkdir(mode=0o700)

    def mid_rebuild() -> bool:
        names = os.listdir(out)
        return "p1.db" in names and any(WORK_RE.match(n) for n in names)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _REBUILDER, str(tmp_path), chain, str(max(expected))],
        env=env,
        cwd=Path(__file__).parents[3],
    )
    try:
        for _ in range(100):
            wait_until(mid_rebuild, "a rebuild under way", process=child, interval=0.005)
            # Frozen, then looked at: on a loaded machine the rebuild seen under way may
            # have ended before a kill lands; killed only while its work file is there.
            child.send_signal(signal.SIGSTOP)
            if any(WORK_RE.match(n) for n in os.listdir(out)):
                break
            child.send_signal(signal.SIGCONT)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed = [n for n in os.listdir(out) if WORK_RE.match(n)]
    assert killed, "killed between two rebuilds: nothing to prove"
    # The next start: the killed run's work file and its scratch go; what it published stays.
    start_run(tmp_path / "run")
    swept = sweep_folder(out, tmp_path / "run")
    assert sorted(p.name for p in swept.removed) == sorted(killed)
    assert _no_work_files(out)
    published = sorted(n for n in os.listdir(out))
    assert published and all(n.startswith("p") and n.endswith(".db") for n in published)
    want = expected[max(expected)]
    assert all((out / n).read_bytes() == want for n in published)
    capture_again: Capture = make_capture(tmp_path, tmp_path / "app.db")
    assert capture_again.point(chain, max(expected)) is not None
