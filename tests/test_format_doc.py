"""docs/FORMAT.md is enough to get data back without Lifeboat: run its recipe."""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.service import Service
from tests.conftest import REPO
from tests.helpers.databases import db_content, make_db


def test_the_documented_recipe_rebuilds_a_differential(home: Path, tmp_path: Path):
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=2000)
    service.add_source(db)
    base = service.backup("notes")
    conn = sqlite3.connect(db)
    conn.execute("update items set name = 'changed' where id % 50 = 0")
    conn.execute("delete from items where id > 1900")
    conn.commit()
    conn.close()
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff"
    doc = (REPO / "docs" / "FORMAT.md").read_text()
    recipe = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "DIFF" in b)
    recipe = (
        recipe.replace("BASE.sqlite.zst", str(base.path))
        .replace("DIFF.diff.zst", str(diff.path))
        .replace("restored.db", str(tmp_path / "out.db"))
    )
    result = subprocess.run(
        [sys.executable, "-c", recipe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == diff.manifest.db_sha256
    out = tmp_path / "out.db"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == diff.manifest.db_sha256
    assert db_content(out) == db_content(db)


def test_stock_zstd_and_the_documented_page_recipe_read_a_seekable_full(home: Path, tmp_path: Path):
    """A format-3 full snapshot (many frames and a seek table): `zstd -d` as the docs say
    gives the database, and the docs' Python reads any page from its one frame."""
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=6000, payload=600)
    service.add_source(db)
    full = service.backup("notes")
    assert full.manifest.format == 3 and full.manifest.db_size > 2 << 20
    out = tmp_path / "notes-restored.db"
    subprocess.run(["zstd", "-q", "-d", str(full.path), "-o", str(out)], check=True)
    assert out.stat().st_size == full.manifest.db_size
    assert db_content(out) == db_content(db)
    with sqlite3.connect(out) as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    doc = (REPO / "docs" / "FORMAT.md").read_text()
    recipe = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "PAGE_SIZE" in b)
    size = full.manifest.page_size
    plain = out.read_bytes()
    for page in (1, 2, full.manifest.page_count // 2, full.manifest.page_count):
        code = recipe.replace("BASE.sqlite.zst", str(full.path))
        code = code.replace("PAGE_SIZE", str(size)).replace("PAGE", str(page))
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert bytes.fromhex(result.stdout.strip()) == plain[(page - 1) * size :][:size]


def test_the_documented_history_recipe_restores_a_point_byte_for_byte(tmp_path: Path):
    """Commits captured from a WAL database (growing, shrinking, a checkpoint that
    restarts the WAL): the docs' `zstd -d` + Python recipe gives, for points across the
    history, exactly the bytes Lifeboat's own point restore writes."""
    from tests.core.history.helpers import make_capture

    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table items(id integer primary key, v blob)")
    capture = make_capture(tmp_path / "cap", db)
    follower = capture.follower()
    follower.start()
    for k in range(60):
        if k % 10 == 9:
            conn.execute("delete from items where id % 3 = 0")
        else:
            conn.execute("insert into items(v) values (randomblob(3000))")
        if k == 30:
            conn.execute("pragma wal_checkpoint(truncate)")
        if k == 45:
            conn.execute("delete from items where id % 2 = 0")
            conn.execute("vacuum")  # the database shrinks
        follower.poll()
    follower.close()
    conn.close()
    base_id = follower.status.chain
    assert follower.status.new_chains == ["no chain yet"]  # one chain throughout
    chain = capture.chain(base_id)
    assert len(chain) > 3
    (base_artifact,) = capture.folder.glob(f"*-{base_id}.sqlite.zst")
    doc = (REPO / "docs" / "FORMAT.md").read_text()
    recipe = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "LBSEGMT" in b)
    commits = [c for s in chain for c in _commit_times(s.path)]
    counts = [c for s in chain for c in _page_counts(s.path)]
    assert any(b < a for a, b in itertools.pairwise(counts))  # it did shrink
    for n, at_us in enumerate([*commits[3::6], commits[-1] + 5]):
        work = tmp_path / f"by-hand-{n}"
        (work / "history").mkdir(parents=True)
        for segment in chain:
            plain = work / "history" / segment.path.name.replace(".seg.zst", ".seg.plain")
            subprocess.run(["zstd", "-q", "-d", str(segment.path), "-o", str(plain)], check=True)
        subprocess.run(
            ["zstd", "-q", "-d", str(base_artifact), "-o", str(work / "restored.db")], check=True
        )
        script = re.sub(r"UNTIL = \d+", f"UNTIL = {at_us}", recipe)
        script = re.sub(r'BASE = "\w+"', f'BASE = "{base_id}"', script)
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=work, capture_output=True, text=True, check=True
        )
        ours = capture.restore(base_id, at_us, f"ours-{n}.db")
        point = capture.point(base_id, at_us)
        assert point is not None
        assert done.stdout.split() == [str(point.commit_seq), str(point.time_us)]
        assert (work / "restored.db").read_bytes() == ours.read_bytes()


def _page_counts(path: Path) -> list[int]:
    from lifeboat.core.history.segment_read import SegmentReader

    with SegmentReader(path) as reader:
        return [c.page_count for c in reader.commits]


def _commit_times(path: Path) -> list[int]:
    from lifeboat.core.history.segment_read import SegmentReader

    with SegmentReader(path) as reader:
        return [c.time_us for c in reader.commits]
