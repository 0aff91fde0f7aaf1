"""core/point_pages and core/point_vfs on crafted artifacts: a one-frame artifact is
extracted only as far as asked; a seekable one is read frame by frame and a damaged frame
is caught; a WAL database's image opens without any -wal; the application's collations
and functions are stood in for only where its schema uses them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import zstandard

from lifeboat.core.history.seektable import SeekEntry, frame_checksum, pack_seek_table
from lifeboat.core.point_pages import (
    ExtractingPages,
    FilePages,
    SeekablePages,
    full_pages,
)
from lifeboat.core.point_query import PointQuery
from lifeboat.core.runs import start_run
from lifeboat.foundation.errors import ConfigError, CorruptSnapshot

PAGE = 4096


def _database(path: Path, rows: int = 600) -> bytes:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma page_size={PAGE}")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table t(id integer primary key, body text)")
    conn.executemany("insert into t(body) values (?)", [(f"row {i} " * 40,) for i in range(rows)])
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    data = path.read_bytes()
    assert data[18:20] == b"\x02\x02", "a WAL database's header"
    return data


def _seekable(plain: bytes, out: Path, frame: int = 16 * PAGE) -> Path:
    entries, parts = [], []
    for at in range(0, len(plain), frame):
        chunk = plain[at : at + frame]
        packed = zstandard.ZstdCompressor().compress(chunk)
        parts.append(packed)
        entries.append(SeekEntry(len(packed), len(chunk), frame_checksum(chunk)))
    out.write_bytes(b"".join(parts) + pack_seek_table(entries))
    return out


@pytest.fixture
def run_and_scratch(tmp_path: Path):
    run = start_run(tmp_path / "runs")
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    yield run, scratch
    run.close()


def test_a_one_frame_artifact_is_extracted_only_as_far_as_asked(tmp_path, run_and_scratch):
    plain = _database(tmp_path / "db.sqlite")
    artifact = tmp_path / "db.sqlite.zst"
    artifact.write_bytes(zstandard.ZstdCompressor().compress(plain))
    count = len(plain) // PAGE
    pages = full_pages(artifact, PAGE, count, *run_and_scratch)
    assert isinstance(pages, ExtractingPages)
    assert pages.page(1) == plain[:PAGE]
    assert pages.extracted < count or count * PAGE <= 4 << 20
    assert pages.page(count) == plain[-PAGE:]
    assert pages.page(2) == plain[PAGE : 2 * PAGE]  # read back, not decompressed again
    with pytest.raises(IndexError):
        pages.page(count + 1)
    pages.close()
    assert not list(run_and_scratch[1].iterdir()), "its scratch file is gone"


def test_a_seekable_artifact_reads_one_frame_and_catches_a_damaged_one(tmp_path, run_and_scratch):
    plain = _database(tmp_path / "db.sqlite")
    count = len(plain) // PAGE
    artifact = _seekable(plain, tmp_path / "db.seekable.zst")
    pages = full_pages(artifact, PAGE, count, *run_and_scratch)
    assert isinstance(pages, SeekablePages)
    assert pages.page(count - 1) == plain[(count - 2) * PAGE : (count - 1) * PAGE]
    assert pages.decompressed == 1
    assert [pages.page(n) for n in range(1, count + 1)] == [
        plain[i : i + PAGE] for i in range(0, len(plain), PAGE)
    ]
    pages.close()
    # A frame whose plain bytes are not what the seek table's checksum says.
    damaged = bytearray(artifact.read_bytes())
    first = zstandard.ZstdCompressor().compress(plain[: 16 * PAGE])
    other = zstandard.ZstdCompressor().compress(bytes(16 * PAGE))
    assert len(other) <= len(first)
    damaged[: len(first)] = other + bytes(len(first) - len(other))
    bad = tmp_path / "bad.zst"
    bad.write_bytes(bytes(damaged))
    broken = SeekablePages(bad, PAGE, count)
    with pytest.raises(CorruptSnapshot):
        broken.page(1)
    broken.close()


def test_a_wal_image_opens_read_only_without_any_sidecar(tmp_path: Path):
    plain = _database(tmp_path / "db.sqlite", rows=50)
    image = tmp_path / "image"
    image.mkdir()
    (image / "db").write_bytes(plain)
    pages = FilePages(image / "db", PAGE, len(plain) // PAGE, owned=False)
    with PointQuery(pages) as query:
        assert list(query.run("select count(*) from t").rows) == [(50,)]
        assert list(query.run("pragma page_count").rows) == [(len(plain) // PAGE,)]
    pages.close()
    assert sorted(p.name for p in image.iterdir()) == ["db"], "no -wal, -shm or journal"
    assert (image / "db").read_bytes() == plain


def test_the_applications_collations_and_functions_are_stood_in_for(tmp_path: Path):
    db = tmp_path / "app.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.create_collation(
        "NOCASE_APP", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower())
    )
    conn.create_function("slug", 1, lambda s: s.lower().replace(" ", "-"), deterministic=True)
    conn.execute("create table n(id integer primary key, title text collate NOCASE_APP)")
    conn.execute("create index n_slug on n(slug(title))")
    conn.executemany("insert into n(title) values (?)", [("B one",), ("a two",), ("C three",)])
    conn.close()
    plain = db.read_bytes()
    pages = FilePages(db, PAGE, len(plain) // PAGE, owned=False)
    with PointQuery(pages) as query:
        result = query.run("select title from n order by title")
        assert list(result.rows) == [("B one",), ("C three",), ("a two",)]  # binary order
        assert result.stand_ins == {"NOCASE_APP"}
        assert list(query.run("select slug(title) from n where id = 1").rows) == [(None,)]
        assert "slug" in query.used
        with pytest.raises(ConfigError):  # a name the schema does not use stays an error
            query.run("select nosuchfn(1)")
    pages.close()
